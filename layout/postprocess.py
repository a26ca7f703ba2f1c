"""Layout post-processing (spec §5.3) and the pipeline's overlap filter (spec §5.4 step 1).

Both are pure functions over `Detection` / `LayoutBox` so the exact upstream order of steps — which decides what the
client sees in `layout_det_res.boxes` and which crops reach the VLM — is unit-tested without a model.
Every step keeps the relative order of the boxes it lets through; only the model-order sort reorders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import combinations

from layout.geometry import box_area, containment, intersection_area, iou, overlap_of_smaller
from layout.labels import (
    CHART_LABEL,
    FORMULA_LABELS,
    IMAGE_LABEL,
    INLINE_FORMULA_LABEL,
    REFERENCE_LABEL,
    SEAL_LABEL,
    SKIP_ORDER_LABELS,
    TABLE_LABEL,
)
from layout.polygons import SHAPE_MODES, shaped_outline
from layout.types import BBox, Detection, Polygon

MERGE_MODES: frozenset[str] = frozenset({"large", "small", "union"})
# What a class left out of a per-class request object gets (upstream's fall-backs, spec §5.3).
FALLBACK_THRESHOLD = 0.5
FALLBACK_UNCLIP_RATIO: tuple[float, float] = (1.0, 1.0)
FALLBACK_MERGE_MODE = "union"
# Visual labels: a heavy overlap between a visual and a box of another label keeps both (spec §5.4 step 1),
# except text over a table, which is the table's own cell text.
OVERLAP_EXEMPT_LABELS: frozenset[str] = frozenset({IMAGE_LABEL, TABLE_LABEL, SEAL_LABEL, CHART_LABEL})
# The label whose page-sized boxes are whole-page scans, dropped by the large-image rule (spec §5.3).
LARGE_IMAGE_LABEL = IMAGE_LABEL
DROPPED_BLOCK_LABEL = REFERENCE_LABEL

Coordinate = tuple[int, int, int, int]


# Fixed constants of spec §5.3 / §5.4 (upstream's; no request or config sets them).
# NMS: boxes of one class overlapping by more than this IoU are duplicates; across classes only near-identical
# boxes are (a caption on a figure, a formula in a paragraph are distinct content).
NMS_SAME_CLASS_IOU = 0.6
NMS_CROSS_CLASS_IOU = 0.98
# Share of the inner box's area that must lie inside the outer one for a merge mode to treat it as contained
# (spec leaves it open; detector boxes jitter by a few pixels, so exact containment would rarely trigger).
CONTAINMENT_RATIO = 0.9
# Overlap filter (§5.4 step 1): thinner boxes are noise; of two boxes overlapping by more than this share of the
# smaller, the smaller goes; an inline formula overlapping another box by more than this is read as part of it.
MIN_BLOCK_SIDE = 6
OVERLAP_DROP_RATIO = 0.7
INLINE_FORMULA_OVERLAP = 0.5


@dataclass(frozen=True)
class PostprocessOptions:
    """The request-tunable knobs of spec §2 and the configured large-image rule, resolved for one request.

    No field has a default here: the server's defaults live in its configuration (`serve.config.LayoutDefaults`),
    and a request's fields override them. Per-class mappings are keyed by int class id (see
    `labels.resolve_per_class`); a class they leave out falls back to threshold 0.5, unclip (1, 1) and mode
    "union", as upstream does.
    """

    threshold: float | Mapping[int, float]
    nms: bool
    unclip_ratio: float | tuple[float, float] | Mapping[int, float | tuple[float, float]]
    merge_mode: str | Mapping[int, str]
    # An `image` box covering more of the page than this is a scan mislabelled as a picture (spec §5.3).
    large_image_ratio_landscape: float
    large_image_ratio_portrait: float
    # `layoutShapeMode`: how outlines of a model with masks are reported (spec §2).
    shape_mode: str

    def __post_init__(self) -> None:
        if self.shape_mode not in SHAPE_MODES:
            raise ValueError(f"unknown shape mode {self.shape_mode!r}; expected one of {SHAPE_MODES}")
        modes = self.merge_mode.values() if isinstance(self.merge_mode, Mapping) else [self.merge_mode]
        unknown = sorted(set(modes) - MERGE_MODES)
        if unknown:
            raise ValueError(f"unknown merge mode(s) {unknown}; expected one of {sorted(MERGE_MODES)}")

    def threshold_for(self, cls_id: int) -> float:
        if isinstance(self.threshold, Mapping):
            return self.threshold.get(cls_id, FALLBACK_THRESHOLD)
        return self.threshold

    def unclip_for(self, cls_id: int) -> tuple[float, float]:
        ratio = self.unclip_ratio.get(cls_id, FALLBACK_UNCLIP_RATIO) if isinstance(self.unclip_ratio, Mapping) else self.unclip_ratio
        if isinstance(ratio, (int, float)):
            return (ratio, ratio)
        width_ratio, height_ratio = ratio
        return (width_ratio, height_ratio)

    def merge_mode_for(self, cls_id: int) -> str:
        if isinstance(self.merge_mode, Mapping):
            return self.merge_mode.get(cls_id, FALLBACK_MERGE_MODE)
        return self.merge_mode



@dataclass(frozen=True)
class LayoutBox:
    """One element of `layout_det_res.boxes` (spec §3.4): int page coordinates, 1-based `order` or None."""

    cls_id: int
    label: str
    score: float
    coordinate: Coordinate
    order: int | None
    # `polygon_points`: only from a model with masks, and only when the shape mode is not "rect".
    polygon_points: Polygon | None = None


# --- §5.3 model post-processing -------------------------------------------------------------------------------


def postprocess_detections(
    detections: Sequence[Detection], page_size: tuple[int, int], options: PostprocessOptions
) -> list[LayoutBox]:
    """Turn raw detections into `layout_det_res.boxes`, in spec §5.3's step order (the order changes the result:
    e.g. NMS before containment, unclip after both). `page_size` is (width, height) in pixels."""
    kept = [d for d in detections if d.score > options.threshold_for(d.cls_id)]  # strictly above, as upstream
    if options.nms:
        kept = non_max_suppression(kept)
    kept = drop_page_sized_images(kept, page_size, options)
    kept = filter_contained(kept, options)
    kept = sort_by_model_order(kept)
    boxes = [_to_layout_box(d, page_size, options) for d in kept]
    return number_orders([b for b in boxes if b is not None])


def non_max_suppression(detections: Sequence[Detection]) -> list[Detection]:
    """Greedy NMS by descending score. Across classes only near-identical boxes count as duplicates: differently
    labelled boxes that merely overlap (a caption on a figure, a formula in a paragraph) are distinct content."""
    by_score = sorted(range(len(detections)), key=lambda i: detections[i].score, reverse=True)
    kept: list[int] = []
    for i in by_score:
        if not any(_suppresses(detections[k], detections[i]) for k in kept):
            kept.append(i)
    return [detections[i] for i in sorted(kept)]


def _suppresses(winner: Detection, other: Detection) -> bool:
    limit = NMS_SAME_CLASS_IOU if winner.cls_id == other.cls_id else NMS_CROSS_CLASS_IOU
    return iou(winner.bbox, other.bbox) > limit


def drop_page_sized_images(
    detections: Sequence[Detection], page_size: tuple[int, int], options: PostprocessOptions
) -> list[Detection]:
    """Drop `image` boxes covering most of the page: on a scanned photo page they would swallow every block. If
    they are all there is, the page really is a picture, so nothing is dropped."""
    width, height = page_size
    page_area = width * height
    limit = options.large_image_ratio_landscape if width > height else options.large_image_ratio_portrait
    page: BBox = (0, 0, width, height)

    def is_page_sized(d: Detection) -> bool:
        return d.label == LARGE_IMAGE_LABEL and page_area > 0 and intersection_area(d.bbox, page) / page_area > limit

    kept = [d for d in detections if not is_page_sized(d)]
    return kept if kept else list(detections)


def filter_contained(detections: Sequence[Detection], options: PostprocessOptions) -> list[Detection]:
    """Apply the merge modes to every containment pair (outer, inner), all pairs judged on the same input.

    The mode is that of the *outer* box's class: "large" drops what it contains, "small" drops the outer box
    itself, "union" keeps both. A formula box never causes a non-formula box to go (spec §5.3): an inline formula
    inside a paragraph must not delete the paragraph, nor a formula region the text it overlaps; the reverse
    (a "large" text box absorbing the formula inside it) is allowed. Identical boxes never contain each other
    (the outer must be strictly larger), so without NMS duplicates survive instead of deleting each other.
    """
    dropped: set[int] = set()
    for o, outer in enumerate(detections):
        mode = options.merge_mode_for(outer.cls_id)
        if mode == "union":
            continue
        for i, inner in enumerate(detections):
            if i == o or not _contains(outer, inner):
                continue
            victim, cause = (i, o) if mode == "large" else (o, i)
            if not _is_formula(detections[victim]) and _is_formula(detections[cause]):
                continue
            dropped.add(victim)
    return [d for k, d in enumerate(detections) if k not in dropped]


def _contains(outer: Detection, inner: Detection) -> bool:
    strictly_larger = box_area(outer.bbox) > box_area(inner.bbox)
    return strictly_larger and containment(inner.bbox, outer.bbox) >= CONTAINMENT_RATIO


def _is_formula(d: Detection) -> bool:
    return d.label in FORMULA_LABELS


def sort_by_model_order(detections: Sequence[Detection]) -> list[Detection]:
    """Stable sort by the order head's rank; boxes without one go last, in input order."""
    return sorted(detections, key=lambda d: (d.model_order is None, d.model_order or 0.0))


def unclip(box: BBox, ratio: tuple[float, float]) -> BBox:
    """Scale a box around its fixed centre by (width ratio, height ratio)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half_w, half_h = (box[2] - box[0]) * ratio[0] / 2, (box[3] - box[1]) * ratio[1] / 2
    return (cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def clip_to_page(box: BBox, page_size: tuple[int, int]) -> Coordinate | None:
    """Round to whole pixels inside the page; None when nothing of the box is left on it."""
    width, height = page_size
    x1, x2 = (min(max(round(v), 0), width) for v in (box[0], box[2]))
    y1, y2 = (min(max(round(v), 0), height) for v in (box[1], box[3]))
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def _to_layout_box(d: Detection, page_size: tuple[int, int], options: PostprocessOptions) -> LayoutBox | None:
    coordinate = clip_to_page(unclip(d.bbox, options.unclip_for(d.cls_id)), page_size)
    if coordinate is None:
        return None
    polygon = None
    if d.polygon is not None and options.shape_mode != "rect":
        polygon = shaped_outline(d.polygon, coordinate, options.shape_mode)
    return LayoutBox(d.cls_id, d.label, d.score, coordinate, order=None, polygon_points=polygon)


def number_orders(boxes: Sequence[LayoutBox]) -> list[LayoutBox]:
    """Give 1-based `order` numbers in list order, skipping page furniture and visuals (they get None)."""
    numbered: list[LayoutBox] = []
    next_order = 1
    for box in boxes:
        if box.label in SKIP_ORDER_LABELS:
            numbered.append(replace(box, order=None))
        else:
            numbered.append(replace(box, order=next_order))
            next_order += 1
    return numbered


# --- §5.4 step 1 pipeline overlap filter ----------------------------------------------------------------------


def filter_overlaps(boxes: Sequence[LayoutBox]) -> list[LayoutBox]:
    """Choose which layout boxes become blocks (spec §5.4 step 1), keeping their order.

    Rules run one after another on the survivors of the previous one: `reference` boxes go; boxes thinner than
    `MIN_BLOCK_SIDE` go; an `inline_formula` covering more than `INLINE_FORMULA_OVERLAP` of, or covered by, any other
    box goes (its text is read as part of that box); then, scanning pairs in order, of two boxes overlapping by more
    than `OVERLAP_DROP_RATIO` of the smaller one the smaller goes (the later one on equal areas) — unless the two have
    different labels, one of them an image/table/seal/chart, and they are not text over a table: text over a
    figure is separate content, and a figure inside a table is absorbed by the table later (spec §5.4 step 4).
    """
    kept = [b for b in boxes if b.label != DROPPED_BLOCK_LABEL and _min_side(b.coordinate) >= MIN_BLOCK_SIDE]
    kept = _drop_overlapping_inline_formulas(kept)
    return _drop_smaller_of_overlapping_pairs(kept)


def _min_side(box: Coordinate) -> int:
    return min(box[2] - box[0], box[3] - box[1])


def _drop_overlapping_inline_formulas(boxes: Sequence[LayoutBox]) -> list[LayoutBox]:
    def overlaps_another(k: int) -> bool:
        return any(
            overlap_of_smaller(boxes[k].coordinate, other.coordinate) > INLINE_FORMULA_OVERLAP
            for j, other in enumerate(boxes)
            if j != k
        )

    return [b for k, b in enumerate(boxes) if b.label != INLINE_FORMULA_LABEL or not overlaps_another(k)]


def _drop_smaller_of_overlapping_pairs(boxes: Sequence[LayoutBox]) -> list[LayoutBox]:
    dropped: set[int] = set()
    for i, j in combinations(range(len(boxes)), 2):
        if i in dropped or j in dropped or _kept_together(boxes[i], boxes[j]):
            continue
        if overlap_of_smaller(boxes[i].coordinate, boxes[j].coordinate) > OVERLAP_DROP_RATIO:
            dropped.add(_smaller_index(boxes, i, j))
    return [b for k, b in enumerate(boxes) if k not in dropped]


def _kept_together(a: LayoutBox, b: LayoutBox) -> bool:
    labels = {a.label, b.label}
    if len(labels) == 1 or not labels & OVERLAP_EXEMPT_LABELS:
        return False
    return TABLE_LABEL not in labels or labels <= OVERLAP_EXEMPT_LABELS


def _smaller_index(boxes: Sequence[LayoutBox], i: int, j: int) -> int:
    return i if box_area(boxes[i].coordinate) < box_area(boxes[j].coordinate) else j
