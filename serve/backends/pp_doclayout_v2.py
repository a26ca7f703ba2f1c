"""PP-DocLayoutV2 (PaddleOCR-VL's layout model) through transformers' own model code, on CPU or GPU.

The model predicts the reading order itself (spec §5.3), so its detections carry `model_order` and the pipeline
follows it instead of ordering geometrically. Production weights: the safetensors checkpoint
`PaddlePaddle/PP-DocLayoutV2_safetensors`; operators pre-download it (`hf download
PaddlePaddle/PP-DocLayoutV2_safetensors --local-dir models/PP-DocLayoutV2`) and name the directory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from layout.labels import PP_DOCLAYOUT_LABELS
from layout.pp_doclayout import DEFAULT_INPUT_SIZE, decode, preprocess
from layout.types import Detection
from serve.backends.base import LayoutBackend
from serve.backends.checkpoints import TorchModelOptions, load_pretrained, resolve_model

PREPROCESSOR_CONFIG = "preprocessor_config.json"


class PpDocLayoutOptions(TorchModelOptions):
    # Candidates below this never leave the model; it must not exceed the lowest per-class threshold a request
    # may ask for, or those boxes could not come back.
    candidate_threshold: float = Field(default=0.3, ge=0, le=1)


def input_size(checkpoint: str) -> tuple[int, int]:
    """(width, height) the checkpoint's image processor resizes to; the published 800×800 when it has none."""
    path = Path(checkpoint) / PREPROCESSOR_CONFIG
    if not path.is_file():
        return DEFAULT_INPUT_SIZE
    size = json.loads(path.read_text()).get("size") or {}
    return int(size.get("width", DEFAULT_INPUT_SIZE[0])), int(size.get("height", DEFAULT_INPUT_SIZE[1]))


class PpDocLayoutV2(LayoutBackend):
    options_model = PpDocLayoutOptions

    has_reading_order = True

    def __init__(self, options: dict, threads: int) -> None:
        self._opts = PpDocLayoutOptions(**options)
        self._model = load_pretrained("AutoModelForObjectDetection", self._opts, threads)
        checkpoint = resolve_model(self._opts.model)
        # Class ids are the PP-DocLayout vocabulary; the published config's label names are lossy (two
        # "formula", two "text", ...), so ids, not names, are what is checked and used.
        if self._model.config.num_labels != len(PP_DOCLAYOUT_LABELS):
            raise ValueError(f"{checkpoint} predicts {self._model.config.num_labels} classes, not the "
                             f"{len(PP_DOCLAYOUT_LABELS)} of PP-DocLayout")
        self._size = input_size(checkpoint)

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        outputs = self._forward(preprocess(images, self._size))
        masks = outputs.get("masks")
        return [
            decode(
                outputs["logits"][i], outputs["boxes"][i], outputs["order_logits"][i],
                (image.shape[1], image.shape[0]), PP_DOCLAYOUT_LABELS, self._opts.candidate_threshold,
                masks=None if masks is None else masks[i],
            )
            for i, image in enumerate(images)
        ]

    def _forward(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        pixels = torch.from_numpy(batch).to(self._opts.device, self._model.dtype)
        with torch.inference_mode():
            return self._arrays(self._model(pixel_values=pixels))

    def _arrays(self, out: Any) -> dict[str, np.ndarray]:
        """The model output fields `layout.pp_doclayout.decode` reads, as NumPy arrays."""
        return {
            "logits": out.logits.float().cpu().numpy(),
            "boxes": out.pred_boxes.float().cpu().numpy(),
            "order_logits": out.order_logits.float().cpu().numpy(),
        }
