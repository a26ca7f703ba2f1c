"""Inter-word spaces OCR dropped.

The embedded recogniser reads a line set with tight word spacing as one run-together word ("Compositionofthe"):
it writes a space only where the gap is clearly wider than its letters' spacing. Measured on the dev set, estimating
the gaps from its character boxes does not fix that: they are CTC column positions, which put narrow letters (l, f,
1) far enough off that most of the spaces they suggest are wrong. What works is asking the recogniser again with
the line's blank columns widened: the gaps between words, wider than those between letters, become unmistakable,
while letters stay as they are. The re-read is kept only when it is the same text with spaces added between Latin
letters or digits, never between CJK characters, so it can add spaces and change nothing else.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SpacingRules:
    # A line is re-read when it holds a run of more Latin letters than this without a space: few words are that
    # long (5 lines in the 27 pages of the dev set's born-digital and PubLayNet pages, none of them run together)
    # while three run-together words usually are.
    max_word_letters: int = 12
    # Each blank column run of the line's crop at least this share of the line's height wide is widened `widen`
    # times. Narrower runs are the inside of letters' outlines and anti-aliasing; widening more than 2x makes the
    # recogniser split words (measured on DejaVu Sans and Serif set with 0.05-0.1 em word spacing).
    min_gap_share: float = 0.06
    widen: int = 2


def runs_together(text: str, rules: SpacingRules = SpacingRules()) -> bool:
    """Whether a line holds a run of Latin letters too long to be one word."""
    return re.search(rf"[A-Za-z]{{{rules.max_word_letters + 1},}}", text) is not None


def widened_gaps(crop: np.ndarray, rules: SpacingRules = SpacingRules()) -> np.ndarray:
    """The line's crop (BGR) with each blank column run (no ink from top to bottom) wider than `min_gap_share` of
    its height repeated `widen` times. Ink is told from paper by the crop's own histogram (Otsu): a line may be set
    on a tint or a photo."""
    _, ink = cv2.threshold(crop.min(axis=2), 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    blank = ~ink.any(axis=0)
    min_run = max(1, round(rules.min_gap_share * crop.shape[0]))
    columns: list[int] = []
    start = 0
    for end in range(1, len(blank) + 1):
        if end == len(blank) or blank[end] != blank[start]:
            run = list(range(start, end))
            columns += [x for x in run for _ in range(rules.widen)] if blank[start] and len(run) >= min_run else run
            start = end
    return crop[:, columns]


def respaced(read: str, reread: str) -> str | None:
    """`reread` when it is `read` with spaces added, each between two Latin letters or digits; else None."""
    if reread == read or reread.replace(" ", "") != read.replace(" ", ""):
        return None
    i = 0
    for j, char in enumerate(reread):
        if i < len(read) and read[i] == char:
            i += 1
        elif char != " " or not (0 < j < len(reread) - 1 and _latin(reread[j - 1]) and _latin(reread[j + 1])):
            return None
    return reread if i == len(read) else None


def _latin(char: str) -> bool:
    return char.isascii() and char.isalnum() or unicodedata.name(char, "").startswith("LATIN")
