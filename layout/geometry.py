"""Box geometry on x1, y1, x2, y2 boxes: areas, overlaps, containment. One home for every module that compares
boxes, so "overlap" means the same thing in post-processing, OCR assignment and VL merging."""

from __future__ import annotations

from layout.types import BBox


def box_area(box: BBox) -> float:
    """Area of a box; inverted boxes count as empty rather than negative."""
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def intersection_area(a: BBox, b: BBox) -> float:
    return box_area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def iou(a: BBox, b: BBox) -> float:
    inter = intersection_area(a, b)
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def containment(inner: BBox, outer: BBox) -> float:
    """Share of `inner`'s area lying inside `outer` (0 for an empty `inner`)."""
    area = box_area(inner)
    return intersection_area(inner, outer) / area if area > 0 else 0.0


def overlap_of_smaller(a: BBox, b: BBox) -> float:
    """Intersection over the smaller area: how much of the lesser box the other one covers."""
    smaller = min(box_area(a), box_area(b))
    return intersection_area(a, b) / smaller if smaller > 0 else 0.0


def wholly_inside(inner: BBox, outer: BBox) -> bool:
    return inner[0] >= outer[0] and inner[1] >= outer[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def overlaps_horizontally(a: BBox, b: BBox) -> bool:
    """The boxes' x-ranges share more than an edge."""
    return min(a[2], b[2]) > max(a[0], b[0])


def overlaps(a: BBox, b: BBox) -> bool:
    """The boxes share some area (touching edges do not count)."""
    return overlaps_horizontally(a, b) and min(a[3], b[3]) > max(a[1], b[1])


def union_box(a: BBox, b: BBox) -> BBox:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def centre(box: BBox) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def contains_point(box: BBox, point: tuple[float, float]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]
