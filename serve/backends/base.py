"""Stage interfaces. A new model is a new sibling module implementing one of these, registered by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from layout.types import Detection


class LayoutBackend(ABC):
    """Finds labelled regions on page images (BGR uint8), in the PP-DocLayoutV2 vocabulary."""

    # True when the model predicts reading order itself (Detection.model_order set); otherwise the
    # pipeline orders regions geometrically.
    has_reading_order: ClassVar[bool] = False

    @abstractmethod
    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """One list of raw detections per image; post-processing happens in `layout.postprocess`."""


class OrientationBackend(ABC):
    @abstractmethod
    def classify(self, image: np.ndarray) -> int:
        """Clockwise rotation of the page content: 0, 90, 180 or 270; `layout.crop.rotate_page(image, angle)`
        undoes it."""


@dataclass(frozen=True)
class Region:
    """A region the recognition stage is asked to read."""

    label: str
    bbox: tuple[int, int, int, int]


@dataclass(frozen=True)
class RecognitionOptions:
    """Per-request switches of spec §2 that decide how regions are read."""

    use_chart_recognition: bool = False
    use_seal_recognition: bool = False
    use_ocr_for_image_block: bool = False


@dataclass
class PageRecognition:
    """Recognition output for one page: one content string per requested region, plus regions the backend
    found on its own (text outside every layout box), which the pipeline must not lose."""

    contents: list[str]
    extra_regions: list[tuple[Region, str]] = field(default_factory=list)


@dataclass(frozen=True)
class RecognitionCapabilities:
    """What a backend can really do; the pipeline reports the effective settings from this."""

    chart_recognition: bool = False
    seal_recognition: bool = False


class RecognitionBackend(ABC):
    capabilities: ClassVar[RecognitionCapabilities] = RecognitionCapabilities()

    @abstractmethod
    def recognize(self, page: np.ndarray, regions: Sequence[Region], options: RecognitionOptions) -> PageRecognition:
        """Read every region of one page (BGR uint8)."""
