"""Region outlines of a layout model with instance masks (PP-DocLayoutV3, spec §3.4, §5.4): from a mask to a
polygon, shaped per `layoutShapeMode`, and used to white out what a crop holds outside its region.

Our own recipe on OpenCV: the largest external contour of the mask inside the box, simplified with
Douglas-Peucker. PaddleX refines vertices further; polygons therefore agree in shape, not point for point.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from layout.types import BBox, Polygon

SHAPE_MODES = ("rect", "quad", "poly", "auto")
# Douglas-Peucker tolerance as a share of the contour's perimeter: removes pixel steps, keeps real corners.
APPROX_EPSILON_RATIO = 0.004
# `auto`: a region whose tightest rotated quadrilateral nearly is its box (IoU) is reported as the box, one whose
# outline nearly is that quadrilateral as the quadrilateral; anything else keeps its outline.
AUTO_RECT_IOU = 0.95
AUTO_QUAD_IOU = 0.8
MIN_POLYGON_POINTS = 4
WHITE = 255


def mask_outline(mask_logits: np.ndarray, bbox: BBox, page_size: tuple[int, int]) -> Polygon | None:
    """The outline, in page pixels, of the positive part of a mask (logits over the whole page, at any
    resolution) inside `bbox`; None when the mask has nothing there or no outline of at least four points."""
    width, height = page_size
    x1, y1 = max(0, int(bbox[0])), max(0, int(bbox[1]))
    x2, y2 = min(width, int(bbox[2])), min(height, int(bbox[3]))
    if x2 <= x1 or y2 <= y1:
        return None
    rows, cols = mask_logits.shape
    top, bottom = round(y1 * rows / height), round(y2 * rows / height)
    left, right = round(x1 * cols / width), round(x2 * cols / width)
    inside = mask_logits[top:bottom, left:right] > 0
    if not inside.any():
        return None
    region = cv2.resize(inside.astype(np.uint8), (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    largest = max(contours, key=cv2.contourArea)
    points = cv2.approxPolyDP(largest, APPROX_EPSILON_RATIO * cv2.arcLength(largest, True), True).reshape(-1, 2)
    if len(points) < MIN_POLYGON_POINTS:
        return None
    return _from_top_left(tuple((int(x) + x1, int(y) + y1) for x, y in points))


def rectangle(box: Sequence[int]) -> Polygon:
    x1, y1, x2, y2 = (int(v) for v in box)
    return ((x1, y1), (x2, y1), (x2, y2), (x1, y2))


def shaped_outline(polygon: Polygon | None, box: Sequence[int], mode: str) -> Polygon:
    """The outline to report for a region under `layoutShapeMode` `mode`: its box (`rect`, or no polygon), the
    tightest rotated quadrilateral (`quad`), the outline itself (`poly`), or whichever of the three fits (`auto`)."""
    if mode not in SHAPE_MODES:
        raise ValueError(f"layoutShapeMode must be one of {SHAPE_MODES}, got {mode!r}")
    rect = rectangle(box)
    if polygon is None or mode == "rect":
        return rect
    if mode == "poly":
        return polygon
    quad = _min_area_quad(polygon)
    if mode == "quad":
        return quad
    if _iou(rect, quad) >= AUTO_RECT_IOU:
        return rect
    return quad if _iou(polygon, quad) >= AUTO_QUAD_IOU else polygon


def white_outside(crop: np.ndarray, polygon: Polygon, origin: tuple[int, int]) -> np.ndarray:
    """A copy of `crop` (cut at page point `origin`) with every pixel outside `polygon` painted white (spec §5.4
    step 2), so a neighbouring region's ink in the corners of a slanted box is not read twice."""
    mask = np.zeros(crop.shape[:2], np.uint8)
    shifted = np.array([(x - origin[0], y - origin[1]) for x, y in polygon], np.int32)
    cv2.fillPoly(mask, [shifted], 1)
    painted = crop.copy()
    painted[mask == 0] = WHITE
    return painted


def _min_area_quad(polygon: Polygon) -> Polygon:
    corners = cv2.boxPoints(cv2.minAreaRect(np.array(polygon, np.float32)))
    return _from_top_left(tuple((int(round(x)), int(round(y))) for x, y in corners))


def _area(polygon: Polygon) -> float:
    return abs(cv2.contourArea(np.array(polygon, np.float32)))


def _iou(a: Polygon, b: Polygon) -> float:
    """Intersection over union of two polygons, by rasterising both on their common bounding box."""
    points = np.array(a + b)
    left, top = points.min(axis=0)
    size = tuple(int(v) + 1 for v in points.max(axis=0) - (left, top))
    masks = []
    for polygon in (a, b):
        mask = np.zeros((size[1], size[0]), np.uint8)
        cv2.fillPoly(mask, [np.array(polygon, np.int32) - (left, top)], 1)
        masks.append(mask.astype(bool))
    union = np.logical_or(*masks).sum()
    return float(np.logical_and(*masks).sum() / union) if union else 0.0


def _from_top_left(polygon: Polygon) -> Polygon:
    """The same outline, clockwise on screen (y down), starting at the point nearest the top-left corner."""
    points = list(polygon)
    signed = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1]))
    if signed < 0:  # counter-clockwise on screen
        points.reverse()
    start = min(range(len(points)), key=lambda i: points[i][0] + points[i][1])
    return tuple(points[start:] + points[:start])
