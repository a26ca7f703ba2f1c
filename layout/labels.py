"""The PP-DocLayoutV2 label vocabulary (spec §5.3) and the label groups the pipeline treats specially."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")

# cls_id -> label, exactly as PP-DocLayoutV2 / V3 number them.
PP_DOCLAYOUT_LABELS: tuple[str, ...] = (
    "abstract",  # 0
    "algorithm",
    "aside_text",
    "chart",
    "content",
    "display_formula",  # 5
    "doc_title",
    "figure_title",
    "footer",
    "footer_image",
    "footnote",  # 10
    "formula_number",
    "header",
    "header_image",
    "image",
    "inline_formula",  # 15
    "number",
    "paragraph_title",
    "reference",
    "reference_content",
    "seal",  # 20
    "table",
    "text",
    "vertical_text",
    "vision_footnote",  # 24
)
LABEL_TO_ID: dict[str, int] = {label: i for i, label in enumerate(PP_DOCLAYOUT_LABELS)}

# Shipped PaddleOCR-VL defaults (spec §5.3 table): per-class score threshold and containment-merge mode.
DEFAULT_THRESHOLDS: dict[int, float] = {
    i: {
        "display_formula": 0.4,
        "doc_title": 0.4,
        "inline_formula": 0.4,
        "paragraph_title": 0.4,
        "seal": 0.45,
        "text": 0.4,
        "vertical_text": 0.4,
    }.get(label, 0.5)
    for i, label in enumerate(PP_DOCLAYOUT_LABELS)
}
DEFAULT_MERGE_MODES: dict[int, str] = {
    i: "large" if label in {"chart", "display_formula", "doc_title", "inline_formula", "paragraph_title"} else "union"
    for i, label in enumerate(PP_DOCLAYOUT_LABELS)
}

# Labels that get no `order` / `block_order` number (spec §3.4, §5.3).
SKIP_ORDER_LABELS: frozenset[str] = frozenset(
    {
        "figure_title",
        "vision_footnote",
        "image",
        "chart",
        "table",
        "header",
        "header_image",
        "footer",
        "footer_image",
        "footnote",
        "aside_text",
    }
)
DEFAULT_MARKDOWN_IGNORE_LABELS: tuple[str, ...] = (
    "number",
    "footnote",
    "header",
    "header_image",
    "footer",
    "footer_image",
    "aside_text",
)
# Single labels that code decides on by name.
TEXT_LABEL = "text"
TABLE_LABEL = "table"
CHART_LABEL = "chart"
SEAL_LABEL = "seal"
IMAGE_LABEL = "image"
DOC_TITLE_LABEL = "doc_title"
PARAGRAPH_TITLE_LABEL = "paragraph_title"
ABSTRACT_LABEL = "abstract"
CONTENT_LABEL = "content"
ALGORITHM_LABEL = "algorithm"
REFERENCE_LABEL = "reference"
INLINE_FORMULA_LABEL = "inline_formula"
# `formula_number` contains "formula" but is a plain "(3)" beside an equation, so it is read as text.
FORMULA_NUMBER_LABEL = "formula_number"
HEADER_LABEL = "header"
FOOTER_LABEL = "footer"
NUMBER_LABEL = "number"

# Headings in Markdown (spec §5.8); cross-page restructuring re-levels the paragraph titles among them.
TITLE_LABELS: frozenset[str] = frozenset({DOC_TITLE_LABEL, PARAGRAPH_TITLE_LABEL})
# Cross-page table merge (spec §5.10): only these may follow a table on its page for the next page's first table
# to continue it, and only these may precede that continuation (plus CONTINUATION_MARK_LABELS whose text says
# "continued").
TABLE_CONTINUATION_FOLLOWERS: frozenset[str] = frozenset(
    {"footer", "vision_footnote", "number", "footnote", "footer_image", SEAL_LABEL}
)
TABLE_CONTINUATION_PRECEDERS: frozenset[str] = frozenset({"header", "header_image", "number", SEAL_LABEL})
CONTINUATION_MARK_LABELS: frozenset[str] = frozenset(
    {TEXT_LABEL, "figure_title", DOC_TITLE_LABEL, PARAGRAPH_TITLE_LABEL}
)
# Blocks kept as image crops (never sent to text recognition unless a request flag says so).
IMAGE_LABELS: frozenset[str] = frozenset({"image", "header_image", "footer_image"})
FORMULA_LABELS: frozenset[str] = frozenset({"display_formula", "inline_formula", "formula"})
# Page furniture: ordered before (header-like) or after (footer-like) the body by geometric reading order.
HEADER_LABELS: frozenset[str] = frozenset({HEADER_LABEL, "header_image"})
FOOTER_LABELS: frozenset[str] = frozenset({FOOTER_LABEL, "footer_image", "footnote", NUMBER_LABEL})
# One text paragraph per line in Markdown. `ocr`/`spotting` are the whole-page labels used when layout detection
# is off.
PARAGRAPH_LABELS: frozenset[str] = frozenset(
    {TEXT_LABEL, "vertical_text", "reference_content", "vision_footnote", "ocr", "spotting"}
)
# Captions; `table_title`/`chart_title` come from layout models other than PP-DocLayoutV2.
CAPTION_LABELS: frozenset[str] = frozenset({"figure_title", "table_title", "chart_title"})
# Regions whose whole content is running text, so a PDF's text layer can answer for them (layout/text_layer.py).
# Not vertical text (turned glyphs), algorithms (their line breaks and indents matter), formulas, tables, pictures.
RUNNING_TEXT_LABELS: frozenset[str] = frozenset(
    {
        TEXT_LABEL, DOC_TITLE_LABEL, PARAGRAPH_TITLE_LABEL, ABSTRACT_LABEL, CONTENT_LABEL, REFERENCE_LABEL,
        "reference_content", "aside_text", "header", "footer", "footnote", "number", "vision_footnote",
    }
) | CAPTION_LABELS
# Pictures a table can absorb (spec §5.4.4). `figure` is the picture label of layout models other than
# PP-DocLayoutV2.
FIGURE_LABELS: frozenset[str] = frozenset({IMAGE_LABEL, "figure", SEAL_LABEL})
# Labels allowed as `promptLabel` when layout detection is off (spec §2).
PROMPT_LABELS: tuple[str, ...] = ("ocr", "formula", "table", "chart", "seal", "spotting")
# The task a page read without layout detection gets when the request names none (spec §5.9).
DEFAULT_PROMPT_LABEL = "ocr"


def resolve_per_class(mapping: Mapping[str, T] | Mapping[int, T]) -> dict[int, T]:
    """Re-key a per-class request object (`layoutThreshold`, `layoutUnclipRatio`, `layoutMergeBboxesMode`) by class id.

    JSON object keys always arrive as strings, so upstream's int lookup silently never matches; we honour what the
    field promises instead. A key may be a label name ("text") or a class id ("22" or 22). Anything else, or two keys
    naming the same class, is a client error rather than a silent no-op, hence `ValueError` (→ 422).
    """
    resolved: dict[int, T] = {}
    for key, value in mapping.items():
        cls_id = _class_id_of(key)
        if cls_id in resolved:
            raise ValueError(f"per-class key {key!r} names class {cls_id} ({PP_DOCLAYOUT_LABELS[cls_id]!r}) twice")
        resolved[cls_id] = value
    return resolved


def _class_id_of(key: object) -> int:
    """A label name or an in-range decimal class id; bools are rejected although Python counts them as ints."""
    if isinstance(key, str) and key in LABEL_TO_ID:
        return LABEL_TO_ID[key]
    if isinstance(key, str) and key.isascii() and key.isdigit():
        cls_id = int(key)
    elif isinstance(key, int) and not isinstance(key, bool):
        cls_id = key
    else:
        raise ValueError(f"per-class key {key!r} is neither a layout label name nor a class id")
    if not 0 <= cls_id < len(PP_DOCLAYOUT_LABELS):
        raise ValueError(f"per-class key {key!r} is not a class id in 0..{len(PP_DOCLAYOUT_LABELS) - 1}")
    return cls_id
