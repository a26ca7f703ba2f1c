"""The `layout_det_res` output image (spec §3.3 `outputImages`): layout boxes drawn over the page."""

from __future__ import annotations

import colorsys
import zlib
from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np

from layout.labels import LABEL_TO_ID

# Distinct hues by golden-ratio stepping, fixed at import so a label keeps its colour across pages and runs.
PALETTE_SIZE = 32
GOLDEN_RATIO_CONJUGATE = 0.618033988749895
PALETTE_SATURATION = 0.75
PALETTE_VALUE = 0.9
MAX_CHANNEL = 255
# Line and text size follow the page's short side, so boxes stay legible on 2000 px pages and small crops alike.
LINE_THICKNESS_DIVISOR = 600
FONT_SCALE_DIVISOR = 1600
MIN_FONT_SCALE = 0.4
FONT = cv2.FONT_HERSHEY_SIMPLEX
LABEL_PADDING = 2
# Relative luminance (ITU-R BT.601 weights) above which black text reads better than white on the label tag.
LUMA_WEIGHTS_BGR = (0.114, 0.587, 0.299)
LIGHT_BACKGROUND_LUMA = 140
BLACK = (0, 0, 0)
WHITE = (255, 255, 255)
SCORE_FORMAT = "{:.2f}"
BGRA_CHANNELS = 4


class LayoutBoxLike(Protocol):
    """The shape of a layout detection this module draws (e.g. `layout.postprocess.LayoutBox`)."""

    @property
    def label(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def coordinate(self) -> Sequence[float]:
        """x1, y1, x2, y2 in page pixels."""
        ...

    @property
    def order(self) -> int | None:
        """1-based reading order, or None for labels that get no number."""
        ...


def _palette() -> tuple[tuple[int, int, int], ...]:
    """PALETTE_SIZE saturated BGR colours whose successive hues are far apart."""
    colours = []
    for index in range(PALETTE_SIZE):
        hue = (index * GOLDEN_RATIO_CONJUGATE) % 1.0
        red, green, blue = colorsys.hsv_to_rgb(hue, PALETTE_SATURATION, PALETTE_VALUE)
        colours.append((round(blue * MAX_CHANNEL), round(green * MAX_CHANNEL), round(red * MAX_CHANNEL)))
    return tuple(colours)


PALETTE: tuple[tuple[int, int, int], ...] = _palette()


def label_colour(label: str) -> tuple[int, int, int]:
    """BGR colour of a label: by class id for the known vocabulary, else by a stable CRC32 of the name
    (Python's `hash` of a str changes between processes)."""
    index = LABEL_TO_ID.get(label)
    if index is None:
        index = zlib.crc32(label.encode("utf-8"))
    return PALETTE[index % PALETTE_SIZE]


def box_caption(box: LayoutBoxLike) -> str:
    """Text drawn on a box: `[order] label score`, the order only when the box has one."""
    caption = f"{box.label} {SCORE_FORMAT.format(box.score)}"
    return caption if box.order is None else f"{box.order} {caption}"


def draw_layout(image: np.ndarray, boxes: Sequence[LayoutBoxLike]) -> np.ndarray:
    """Return a BGR copy of `image` (grayscale is converted) with every box outlined and captioned."""
    canvas = _bgr_copy(image)
    short_side = min(canvas.shape[:2])
    thickness = max(1, round(short_side / LINE_THICKNESS_DIVISOR))
    font_scale = max(MIN_FONT_SCALE, short_side / FONT_SCALE_DIVISOR)
    for box in boxes:
        x1, y1, x2, y2 = (int(v) for v in box.coordinate)
        colour = label_colour(box.label)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness)
        _draw_caption(canvas, box_caption(box), (x1, y1), colour, font_scale, thickness)
    return canvas


def _bgr_copy(image: np.ndarray) -> np.ndarray:
    """A 3-channel BGR copy to draw colours on, whatever the input's channel count."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == BGRA_CHANNELS:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image.copy()


def _draw_caption(
    canvas: np.ndarray,
    text: str,
    corner: tuple[int, int],
    colour: tuple[int, int, int],
    font_scale: float,
    thickness: int,
) -> None:
    """Write `text` on a filled tag in the box colour, above the box's top-left corner, or just inside it
    when the box touches the top of the page."""
    (text_width, text_height), baseline = cv2.getTextSize(text, FONT, font_scale, thickness)
    tag_height = text_height + baseline + 2 * LABEL_PADDING
    x, y = corner
    top = y - tag_height if y - tag_height >= 0 else y
    cv2.rectangle(canvas, (x, top), (x + text_width + 2 * LABEL_PADDING, top + tag_height), colour, cv2.FILLED)
    luma = sum(weight * channel for weight, channel in zip(LUMA_WEIGHTS_BGR, colour, strict=True))
    text_colour = BLACK if luma > LIGHT_BACKGROUND_LUMA else WHITE
    origin = (x + LABEL_PADDING, top + LABEL_PADDING + text_height)
    cv2.putText(canvas, text, origin, FONT, font_scale, text_colour, thickness, cv2.LINE_AA)
