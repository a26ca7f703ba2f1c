"""Ink on a page: whether there is any (an empty page skips both stages), and whether the ink in a region is what
the text layer says is there (`layout.text_layer`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from layout.types import BBox


@dataclass(frozen=True)
class InkRules:
    # A pixel whose darkest channel is below this is ink: text in any colour but the palest, while paper tones,
    # JPEG ringing and light scanner noise stay paper.
    level: int = 200
    # A page with fewer ink pixels than this (after `blank_sample` subsampling) is empty: a few specks of scanner
    # dust are not content.
    blank_max_pixels: int = 16
    # Every n-th row and column are enough to tell an empty page from one with a single word on it.
    blank_sample: int = 2
    # Layer line boxes are grown by this share of their height before masking ink: accents and descenders reach
    # past a font's ascent and descent.
    line_pad: float = 0.2
    # An uncovered ink mark counts as glyph-like between these heights (pixels) and up to this width-to-height
    # ratio: dots of noise, hairline rules and long underlines are not letters.
    mark_min_height: int = 6
    mark_max_height: int = 200
    mark_max_aspect: float = 6.0


def ink_mask(page: np.ndarray, rules: InkRules = InkRules()) -> np.ndarray:
    """Boolean mask of the page's ink (BGR uint8 page)."""
    # Channel by channel: NumPy's reduction over a 3-wide last axis is ~20x slower than two elementwise minima.
    darkest = np.minimum(np.minimum(page[..., 0], page[..., 1]), page[..., 2])
    return darkest < rules.level


def is_blank(page: np.ndarray, rules: InkRules = InkRules()) -> bool:
    step = rules.blank_sample
    return int(np.count_nonzero(ink_mask(page[::step, ::step], rules))) < rules.blank_max_pixels


def unexplained_marks(
    ink: np.ndarray, box: BBox, covered: Sequence[BBox], rules: InkRules = InkRules(), elsewhere: Sequence[BBox] = ()
) -> int:
    """Glyph-like marks of ink inside `box` that none of the `covered` text-line boxes accounts for and that lie
    outside every box of `elsewhere` (regions looked at on their own)."""
    height, width = ink.shape
    x1, y1 = max(int(box[0]), 0), max(int(box[1]), 0)
    x2, y2 = min(int(np.ceil(box[2])), width), min(int(np.ceil(box[3])), height)
    if x2 <= x1 or y2 <= y1:
        return 0
    region = ink[y1:y2, x1:x2].astype(np.uint8)
    for line in covered:
        _clear(region, (x1, y1), line, rules.line_pad * (line[3] - line[1]))
    for other in elsewhere:
        _clear(region, (x1, y1), other, 0.0)
    if not region.any():
        return 0
    count, _, stats, _ = cv2.connectedComponentsWithStats(region, connectivity=8)
    widths, heights = stats[1:count, cv2.CC_STAT_WIDTH], stats[1:count, cv2.CC_STAT_HEIGHT]
    glyph_like = (
        (heights >= rules.mark_min_height) & (heights <= rules.mark_max_height)
        & (widths <= rules.mark_max_aspect * heights)
    )
    return int(np.count_nonzero(glyph_like))


def _clear(region: np.ndarray, origin: tuple[int, int], box: BBox, pad: float) -> None:
    """Zeroes `box`, grown by `pad` on every side, in `region`, a crop whose top-left is page point `origin`."""
    x0, y0 = origin
    region[
        max(int(box[1] - pad) - y0, 0):max(int(np.ceil(box[3] + pad)) - y0, 0),
        max(int(box[0] - pad) - x0, 0):max(int(np.ceil(box[2] + pad)) - x0, 0),
    ] = 0
