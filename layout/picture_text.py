"""Text the layout model boxed as a picture.

The embedded layout model labels a whole handwritten letter, a photographed notebook page, a magazine page over a
photo or a grid of titled equation cards `image` (or `display_formula`), and a picture region is not read: its text
would vanish from the Markdown. The lines found inside say what it is. Lines covering a good share of the box,
several of them, holding words and set no larger than headings, are text: the region is read as its paragraphs. A
picture that is really one (a photo, a chart) keeps its place, and when it covers most of the page the text in it is
kept as its content, as upstream's `useOcrForImageBlock` does, so a page whose text OCR found never comes back
without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from layout.geometry import box_area
from layout.types import BBox, TextLine


@dataclass(frozen=True)
class PictureTextRules:
    # Share of the box the line boxes cover: a page of text is 25–50% ink-bounding boxes, a photo with a caption or
    # a chart with axis labels well under 15%.
    min_coverage: float = 0.18
    # Fewer lines than this are labels on a picture, not a text.
    min_lines: int = 3
    # A text's lines hold words; a chart's or a diagram's are numbers and single labels (the median line's words).
    min_words_per_line: int = 3
    # Lines taller than this many body line heights are display type or drawn letters, not running text.
    max_line_height: float = 3.0
    # A picture covering more of the page than this keeps the text found in it as its content.
    text_page_share: float = 0.5


def reads_as_text(
    box: BBox, lines: Sequence[TextLine], body: float | None, rules: PictureTextRules = PictureTextRules()
) -> bool:
    """Whether the lines inside a picture box make it a text (see the module docstring)."""
    if len(lines) < rules.min_lines or box_area(box) <= 0:
        return False
    words = sorted(len(line.text.split()) for line in lines)
    if words[len(words) // 2] < rules.min_words_per_line:
        return False
    if body is not None:
        heights = sorted(line.bbox[3] - line.bbox[1] for line in lines)
        if heights[len(heights) // 2] > rules.max_line_height * body:
            return False
    return covered_share(box, lines) >= rules.min_coverage


def keeps_its_text(box: BBox, page_size: tuple[int, int], rules: PictureTextRules = PictureTextRules()) -> bool:
    """Whether a picture is large enough on its page that the text found in it is kept as its content."""
    return box_area(box) >= rules.text_page_share * page_size[0] * page_size[1]


def covered_share(box: BBox, lines: Sequence[TextLine]) -> float:
    """Share of the box's area under the union of the line boxes (overlaps counted once)."""
    x1, y1 = int(box[0]), int(box[1])
    width, height = max(int(np.ceil(box[2])) - x1, 1), max(int(np.ceil(box[3])) - y1, 1)
    covered = np.zeros((height, width), dtype=bool)
    for lx1, ly1, lx2, ly2 in (line.bbox for line in lines):
        rows = slice(max(int(ly1) - y1, 0), max(int(np.ceil(ly2)) - y1, 0))
        covered[rows, max(int(lx1) - x1, 0):max(int(np.ceil(lx2)) - x1, 0)] = True
    return float(covered.mean())
