"""Page-image helpers: block crops, their Markdown image paths, JPEG encoding and page rotation.

Images are NumPy arrays in OpenCV layout (H×W or H×W×C, BGR, uint8) — the form pages are decoded into (spec §4).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from layout.polygons import white_outside
from layout.types import Polygon

# Response images are downscaled to fit this square (`Serving.extra.max_output_img_size`, spec §3.3, §5.8).
DEFAULT_MAX_SIDE = 2000
# OpenCV's own JPEG default. Response images are for people to look at, so they keep more detail than the
# quality-75 crops sent to the VLM (spec §5.6); the size is bounded by the `max_side` cap instead.
DEFAULT_JPEG_QUALITY = 95
JPEG_QUALITY_RANGE = (0, 100)
# Page rotations the orientation classifier reports (spec §3.4 `doc_preprocessor_res.angle`).
RIGHT_ANGLE = 90
FULL_TURN = 360
# Markdown image paths (spec §5.8): relative to the Markdown text, keyed the same way in `markdown.images`.
IMAGE_PATH_TEMPLATE = "imgs/img_in_{label}_box_{x1}_{y1}_{x2}_{y2}.jpg"


def _int_box(bbox: Sequence[float]) -> tuple[int, int, int, int]:
    """Truncate a box to ints the way upstream does (`int()`, toward zero), so paths and crops agree with it."""
    if len(bbox) != 4:
        raise ValueError(f"bbox must have 4 coordinates (x1, y1, x2, y2), got {len(bbox)}")
    x1, y1, x2, y2 = (int(v) for v in bbox)
    return x1, y1, x2, y2


def crop(image: np.ndarray, bbox: Sequence[float], outline: Polygon | None = None) -> np.ndarray:
    """Return the axis-aligned region `bbox` = (x1, y1, x2, y2) of `image`, as an independent copy; with an
    `outline` (page points), everything outside it is painted white.

    Coordinates are truncated to int and clipped to the image, with no padding (spec §5.4 step 2).
    The result is a copy because callers paint on crops (white-out of figures inside tables, §5.4 step 4)
    and must not alter the page other blocks are cut from.

    Raises ValueError when the clipped box is empty. The layout stage already drops empty and tiny boxes,
    so an empty crop here is a caller bug; failing loudly beats sending a made-up blank image to the VLM.
    """
    x1, y1, x2, y2 = _int_box(bbox)
    height, width = image.shape[:2]
    left, right = max(0, x1), min(width, x2)
    top, bottom = max(0, y1), min(height, y2)
    if right <= left or bottom <= top:
        raise ValueError(f"bbox {tuple(bbox)} is empty inside a {width}x{height} image")
    region = image[top:bottom, left:right]
    return region.copy() if outline is None else white_outside(region, outline, (left, top))


def image_path_for(label: str, bbox: Sequence[float]) -> str:
    """Markdown path of a block kept as a picture: `imgs/img_in_{label}_box_{x1}_{y1}_{x2}_{y2}.jpg`.

    The block's own label is used (so a chart kept as an image gets `img_in_chart_box_…`), as spec §5.8 states.
    """
    x1, y1, x2, y2 = _int_box(bbox)
    return IMAGE_PATH_TEMPLATE.format(label=label, x1=x1, y1=y1, x2=x2, y2=y2)


def encode_jpeg(image: np.ndarray, max_side: int = DEFAULT_MAX_SIDE, quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    """Encode a BGR (or grayscale) uint8 image as JPEG, downscaled to fit max_side × max_side.

    The aspect ratio is kept; images already within the square are encoded at their own size (never upscaled).
    """
    if max_side <= 0:
        raise ValueError(f"max_side must be positive, got {max_side}")
    low, high = JPEG_QUALITY_RANGE
    if not low <= quality <= high:
        raise ValueError(f"quality must be in [{low}, {high}], got {quality}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    height, width = image.shape[:2]
    if height == 0 or width == 0:
        raise ValueError("cannot encode an empty image")
    scale = min(max_side / width, max_side / height)
    if scale < 1:
        # round() keeps the long side exactly at max_side; max(1, …) keeps extreme aspect ratios non-empty.
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes()


_ROTATIONS: dict[int, int] = {
    RIGHT_ANGLE: cv2.ROTATE_90_COUNTERCLOCKWISE,
    2 * RIGHT_ANGLE: cv2.ROTATE_180,
    3 * RIGHT_ANGLE: cv2.ROTATE_90_CLOCKWISE,
}


def rotate_page(image: np.ndarray, angle: int) -> np.ndarray:
    """Rotate `image` counter-clockwise by `angle` degrees, a multiple of 90 (negative values allowed).

    Convention: `angle` is the angle the page content is rotated by, counter-clockwise, so
    `rotate_page(rotate_page(img, a), -a)` restores `img`. To undo a page the orientation classifier
    reports as rotated by `a`, call `rotate_page(page, -a)`. Always returns a new array.
    """
    if angle % RIGHT_ANGLE:
        raise ValueError(f"angle must be a multiple of {RIGHT_ANGLE}, got {angle}")
    turn = angle % FULL_TURN
    if turn == 0:
        return image.copy()
    return cv2.rotate(image, _ROTATIONS[turn])
