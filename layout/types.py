"""Value types shared by the layout and recognition stages. Coordinates are page pixels, origin top-left."""

from __future__ import annotations

from dataclasses import dataclass, field

BBox = tuple[float, float, float, float]  # x1, y1, x2, y2
Polygon = tuple[tuple[int, int], ...]  # page points, clockwise from the top-left one


@dataclass(frozen=True)
class Detection:
    """One layout box as a layout model reports it, already in the PP-DocLayoutV2 vocabulary."""

    cls_id: int
    label: str
    score: float
    bbox: BBox
    # Reading-order rank from a model with an order head (PP-DocLayoutV2); None when the model has none.
    model_order: float | None = None
    # The region's outline from a model with instance masks (PP-DocLayoutV3); None for box-only models.
    polygon: Polygon | None = None


@dataclass
class Block:
    """One region of a page after post-processing, in reading order; `content` is filled by recognition."""

    label: str
    bbox: tuple[int, int, int, int]
    content: str = ""
    block_id: int = 0
    block_order: int | None = None
    group_id: int = 0
    # Outline to report as `block_polygon_points` (PP-DocLayoutV3, shape mode other than rect).
    polygon: Polygon | None = None
    # Base64 JPEG crop for image-like blocks that Markdown shows as pictures, keyed by its `imgs/...` path.
    image_path: str | None = None
    # First block of the group this block was recognised with (VL text merging); None: its own group.
    group_leader: Block | None = field(default=None, repr=False, compare=False)
    # Set by cross-page restructuring (layout/restructure.py); None where it did not run.
    # Heading level of a paragraph_title (`#` × (level + 1)), chosen across the whole document.
    title_level: int | None = None
    # Index of the block in the whole document, in page and reading order.
    global_block_id: int | None = None
    # `global_block_id` of the block this one continues (a table merged into the earlier page's), else its own.
    global_group_id: int | None = None
    # Page the block comes from, on a page that concatenates several.
    page_index: int | None = None


@dataclass(frozen=True)
class TextLine:
    """One OCR text line: its quadrilateral's bounding box, text and confidence."""

    bbox: BBox
    text: str
    score: float
