"""Figures inside tables (spec §5.4 step 4).

A picture (`image` or `seal`) lying wholly inside a table would otherwise be read as cell text or lost. Before the
table is recognised, each such figure is whited out in the table crop and a token `[F<n>]` is printed in its place;
the model copies the token into the cell it sits in, and afterwards the token is replaced by the figure's Markdown
image. Absorbed figures leave the page's block list (the table now shows them) but keep their crop in
`markdown.images`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from layout.geometry import wholly_inside
from layout.labels import FIGURE_LABELS

# A figure whose short side is under this many page pixels cannot carry a legible token: it is still absorbed
# (dropped from the block list, as upstream does) but not marked.
MIN_TOKEN_SIDE = 25
# Token numbers never contain these digits: the model confuses 0/1/9 with O/l/g, and a misread token finds no figure.
CONFUSABLE_DIGITS = frozenset("019")
# The token text is fitted to this share of the figure's short side.
TOKEN_FILL_RATIO = 0.9
# Stroke width per unit of font scale, so big tokens are bold enough to read after downscaling.
TOKEN_THICKNESS_PER_SCALE = 4
TOKEN_FONT = cv2.FONT_HERSHEY_SIMPLEX
TOKEN_FONT_SCALE_RANGE = (0.2, 10.0)
TOKEN_FONT_SCALE_PRECISION = 0.01
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
_TOKEN_RE = re.compile(r"\[F(\d+)\]")

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class TableFigures:
    """The figures one table absorbs: every index in `absorbed` leaves the block list; `tokens` maps each printed
    token to the index of the figure it stands for (a subset of `absorbed`: tiny figures get none)."""

    absorbed: tuple[int, ...]
    tokens: Mapping[str, int]


def token_numbers() -> Iterator[int]:
    """2, 3, …, 8, 22, 23, …: the numbers written without a confusable digit."""
    number = 0
    while True:
        if not set(str(number)) & CONFUSABLE_DIGITS:
            yield number
        number += 1


def figures_in_table(table: Box, labels: Sequence[str], boxes: Sequence[Box]) -> TableFigures:
    """Which of a page's regions (given by `labels` and `boxes`) a table at `table` absorbs, and their tokens."""
    absorbed = []
    tokens = {}
    numbers = token_numbers()
    for index, (label, box) in enumerate(zip(labels, boxes)):
        if label not in FIGURE_LABELS or not wholly_inside(box, table):
            continue
        absorbed.append(index)
        if min(box[2] - box[0], box[3] - box[1]) >= MIN_TOKEN_SIDE:
            tokens[f"[F{next(numbers)}]"] = index
    return TableFigures(tuple(absorbed), tokens)


def _font_scale(text: str, side: int) -> float:
    """The largest font scale at which `text` fits a square of `side` × TOKEN_FILL_RATIO (bisection)."""
    low, high = TOKEN_FONT_SCALE_RANGE
    best = low
    while high - low > TOKEN_FONT_SCALE_PRECISION:
        middle = (low + high) / 2
        (width, height), _ = cv2.getTextSize(text, TOKEN_FONT, middle, thickness=1)
        if max(width, height) < side * TOKEN_FILL_RATIO:
            best = low = middle
        else:
            high = middle
    return best


def paint_tokens(table_crop: np.ndarray, table: Box, figures: TableFigures, boxes: Sequence[Box]) -> np.ndarray:
    """A copy of `table_crop` (the crop of the table box `table`) with each tokenised figure whited out and its
    token printed centred in black."""
    painted = table_crop.copy()
    for token, index in figures.tokens.items():
        x1, y1, x2, y2 = (boxes[index][0] - table[0], boxes[index][1] - table[1],
                          boxes[index][2] - table[0], boxes[index][3] - table[1])
        # OpenCV's corners are inclusive; the box's right and bottom edges are not.
        cv2.rectangle(painted, (x1, y1), (x2 - 1, y2 - 1), WHITE, thickness=-1)
        scale = _font_scale(token, min(x2 - x1, y2 - y1))
        thickness = max(1, int(scale * TOKEN_THICKNESS_PER_SCALE))
        (width, height), _ = cv2.getTextSize(token, TOKEN_FONT, scale, thickness)
        origin = (x1 + (x2 - x1 - width) // 2, y1 + (y2 - y1 + height) // 2)
        cv2.putText(painted, token, origin, TOKEN_FONT, scale, BLACK, thickness, lineType=cv2.LINE_AA)
    return painted


def figure_html(image_path: str, text: str) -> str:
    """What replaces a figure's token in the table HTML: its image, then any text read from it."""
    html = f'<img src="{image_path}" alt="Image" />'
    return f"{html}\n\n{text}\n\n" if text else html


def untokenize(table_html: str, replacements: Mapping[str, str]) -> str:
    """Replaces every known `[F<n>]` token in a recognised table; tokens the model made up stay as they are."""
    return _TOKEN_RE.sub(lambda match: replacements.get(match.group(0), match.group(0)), table_html)
