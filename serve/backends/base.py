"""Stage interfaces. A new model is a new sibling module implementing one of these, registered by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from layout.text_layer import LayerReading, TextLayerMode
from layout.types import Detection, Polygon
from serve.priority import INTERACTIVE, Priority


class BackendUnavailable(RuntimeError):
    """The backend cannot serve right now (its engine died, its server is unreachable): the client gets a 503 with
    Retry-After, not a 500, because the same request will succeed once the replica or server is back."""


class LayoutBackend(ABC):
    """Finds labelled regions on page images (BGR uint8), in the PP-DocLayoutV2 vocabulary."""

    # The backend's `backend_options`, validated when the config is loaded, so a typo fails the deploy.
    options_model: ClassVar[type[BaseModel]]

    # True when the model predicts reading order itself (Detection.model_order set); otherwise the
    # pipeline orders regions geometrically.
    has_reading_order: ClassVar[bool] = False

    @abstractmethod
    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """One list of raw detections per image; post-processing happens in `layout.postprocess`."""


class OrientationBackend(ABC):
    options_model: ClassVar[type[BaseModel]]

    @abstractmethod
    def classify(self, image: np.ndarray) -> int:
        """Clockwise rotation of the page content: 0, 90, 180 or 270; `layout.crop.rotate_page(image, angle)`
        undoes it."""


@dataclass(frozen=True)
class Region:
    """A region the recognition stage is asked to read."""

    label: str
    bbox: tuple[int, int, int, int]
    # Its outline when the layout model gives one; the crop is white outside it (spec §5.4 step 2).
    polygon: Polygon | None = None


@dataclass(frozen=True)
class RecognitionOptions:
    """Per-request fields of spec §2 that decide how regions are read. The sampling and pixel-budget fields
    only matter to VL backends; None means the backend's configured default."""

    use_chart_recognition: bool = False
    use_seal_recognition: bool = False
    use_ocr_for_image_block: bool = False
    merge_layout_blocks: bool = True
    # Set when layout detection is off: the page is one region, read with this task (spec §5.9).
    prompt_label: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    max_new_tokens: int | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None
    vlm_extra_args: Mapping[str, Any] | None = None
    # Where region text comes from on PDF pages (layout/text_layer.py); `off` for every other input.
    text_layer: TextLayerMode = "off"
    # The request's class (serve/priority.py): the order in which the stage takes waiting pages.
    priority: Priority = INTERACTIVE


@dataclass(frozen=True)
class SpottingResult:
    """`spotting_res` of spec §3.4: a quadrilateral of page points and the text for each located text."""

    rec_polys: list[list[tuple[int, int]]]
    rec_texts: list[str]


@dataclass
class EngineUsage:
    """What reading one page asked of a VLM, for the recognition stage's metrics."""

    calls_by_task: dict[str, int] = field(default_factory=dict)
    prompt_tokens: int = 0
    generated_tokens: int = 0


@dataclass(frozen=True)
class RegionReading:
    """What recognition made of one requested region."""

    content: str
    # Read together with other regions in one call (VL text merging): the index of the group's first region,
    # whose content holds the group's text. None: read on its own.
    group_leader: int | None = None
    # A figure inside a table (spec §5.4 step 4): the index of that table, whose content shows it, so it leaves
    # the block list; its crop still belongs in `markdown.images`. None: a block of its own.
    absorbed_by: int | None = None
    # The region is really these blocks (a text box holding several paragraphs, a title set as the document's): they
    # take its place and its slot in the reading order, in this order. Empty: the region stands as it is.
    parts: tuple[FoundRegion, ...] = ()


@dataclass(frozen=True)
class FoundRegion:
    """A region the backend found on its own: text outside every layout box, which the pipeline must not lose, or a
    part of a layout region (`RegionReading.parts`)."""

    region: Region
    content: str


@dataclass
class PageRecognition:
    """Recognition output for one page: one reading per requested region, in the order they were requested."""

    regions: list[RegionReading]
    found: list[FoundRegion] = field(default_factory=list)
    # Reading order of the regions when the backend changed it (a merged group pulls its members, and the
    # pictures that sat between them, together); None keeps the order the regions came in.
    order: list[int] | None = None
    # Set when the page was read with the spotting task.
    spotting: SpottingResult | None = None
    # Set by VL backends.
    usage: EngineUsage | None = None
    # Regions whose text came from the PDF's text layer, and regions the engine read (OCR or VLM).
    from_text_layer: int = 0
    from_engine: int = 0


@dataclass(frozen=True)
class RecognitionCapabilities:
    """What a backend can really do; the pipeline reports the effective settings from this."""

    chart_recognition: bool = False
    seal_recognition: bool = False
    # `recognition.text_layer` when the config leaves it out: `auto` where the engine is OCR, whose reading the
    # layer beats; `off` (opt in) where it is a VLM.
    reads_text_layer_by_default: bool = False
    # Pages the backend works on at once, the others waiting in the stage by class (serve/priority.py); None: as
    # many as come, the engine scheduling them itself (continuous batching, by request priority).
    pages_at_once: int | None = None


class RecognitionBackend(ABC):
    """Reads regions. Async, because the backend owns its concurrency: a CPU model runs pages on its own
    worker thread, an engine with continuous batching takes every region of every page at once."""

    capabilities: ClassVar[RecognitionCapabilities] = RecognitionCapabilities()
    options_model: ClassVar[type[BaseModel]]

    @abstractmethod
    async def recognize(
        self, page: np.ndarray, regions: Sequence[Region], options: RecognitionOptions,
        layer: LayerReading | None = None,
    ) -> PageRecognition:
        """Read every region of one page (BGR uint8). `layer`: what the PDF's text layer says of each region; the
        engine reads only the regions it cannot answer for (None: no layer, or `text_layer: off`)."""

    async def check_health(self) -> None:
        """Raises when the backend can no longer serve (e.g. its engine died); Ray Serve then restarts the replica."""

    def shutdown(self) -> None:
        """Releases what outlives the process otherwise (an engine's own processes)."""
