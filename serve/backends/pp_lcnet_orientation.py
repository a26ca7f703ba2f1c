"""Document orientation with PP-LCNet (`PP-LCNet_x1_0_doc_ori`) through transformers' own model code.

Production weights: the safetensors checkpoint `PaddlePaddle/PP-LCNet_x1_0_doc_ori_safetensors`; operators
pre-download it and name the directory. Its answer is the clockwise rotation of the page content, which
`layout.crop.rotate_page(page, angle)` undoes — the same correction PaddleX applies.
"""

from __future__ import annotations

import numpy as np

from layout.pp_lcnet import angles, preprocess
from serve.backends.base import OrientationBackend
from serve.backends.checkpoints import TorchModelOptions, load_pretrained

ANGLES = frozenset({0, 90, 180, 270})


class PpLcnetOrientation(OrientationBackend):
    options_model = TorchModelOptions

    def __init__(self, options: dict, threads: int) -> None:
        self._opts = TorchModelOptions(**options)
        self._model = load_pretrained("AutoModelForImageClassification", self._opts, threads)
        self._labels = {int(i): label for i, label in self._model.config.id2label.items()}
        if {int(label) for label in self._labels.values()} != ANGLES:
            raise ValueError(f"{self._opts.model} does not classify page orientation: labels {self._labels}")

    def classify(self, image: np.ndarray) -> int:
        import torch

        pixels = torch.from_numpy(preprocess([image])).to(self._opts.device, self._model.dtype)
        with torch.inference_mode():
            # The model's classification head output is its `last_hidden_state` (no separate `logits` field).
            logits = self._model(pixel_values=pixels).last_hidden_state
        return angles(logits.float().cpu().numpy(), self._labels)[0]
