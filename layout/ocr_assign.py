"""Turning one page-wide OCR pass into block contents.

Measured on the dev set (shared notes): OCR of the whole page, then assigning each text line to the layout
box that contains its centre, reads more accurately than OCR of each crop, because layout boxes are often a
few pixels narrower than their text and clip glyphs. Lines that fall in no box are grouped into new text
blocks so that no text on the page is lost.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from layout.geometry import box_area, centre, contains_point, intersection_area, overlaps_horizontally
from layout.types import BBox, TextLine

# Two lines belong to the same row when their vertical centres differ by less than this share of the
# smaller line height.
SAME_ROW_TOLERANCE = 0.5
# Stray lines join one block when the vertical gap between them is below this many line heights and they
# overlap horizontally.
STRAY_GAP_LINE_HEIGHTS = 1.2


def assign_lines(lines: Sequence[TextLine], boxes: Sequence[BBox]) -> tuple[list[list[TextLine]], list[TextLine]]:
    """Each line goes to the smallest box containing its centre (the most specific region, e.g. a caption
    inside a figure's box). Returns the lines per box and the lines that fell in no box."""
    per_box: list[list[TextLine]] = [[] for _ in boxes]
    stray: list[TextLine] = []
    for line in lines:
        point = centre(line.bbox)
        candidates = [i for i, box in enumerate(boxes) if contains_point(box, point)]
        if candidates:
            per_box[min(candidates, key=lambda i: box_area(boxes[i]))].append(line)
        else:
            stray.append(line)
    return per_box, stray


def outside(lines: Sequence[TextLine], others: Sequence[TextLine]) -> list[TextLine]:
    """The `lines` that overlap none of `others`: the same text found by two sources is kept once."""
    return [line for line in lines if not any(intersection_area(line.bbox, other.bbox) > 0 for other in others)]


def rows(lines: Sequence[TextLine]) -> list[list[TextLine]]:
    """Lines grouped into visual rows, top to bottom, each row left to right."""
    ordered = sorted(lines, key=lambda line: centre(line.bbox)[1])
    grouped: list[list[TextLine]] = []
    for line in ordered:
        if grouped and _same_row(grouped[-1][-1], line):
            grouped[-1].append(line)
        else:
            grouped.append([line])
    return [sorted(row, key=lambda line: line.bbox[0]) for row in grouped]


def _same_row(a: TextLine, b: TextLine) -> bool:
    height = min(a.bbox[3] - a.bbox[1], b.bbox[3] - b.bbox[1])
    return abs(centre(a.bbox)[1] - centre(b.bbox)[1]) < SAME_ROW_TOLERANCE * max(height, 1.0)


def _is_cjk(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def join_text(left: str, right: str) -> str:
    """Joins two pieces of running text: no space between CJK characters, a line-end hyphen before a
    lower-case continuation is a word break and is removed, otherwise one space."""
    if not left:
        return right
    if not right:
        return left
    if _is_cjk(left[-1]) and _is_cjk(right[0]):
        return left + right
    if left.endswith("-") and len(left) > 1 and left[-2].isalpha() and right[0].islower():
        return left[:-1] + right
    return f"{left} {right}"


def block_text(lines: Sequence[TextLine]) -> str:
    """The lines of one block as a flowing paragraph in reading order."""
    text = ""
    for row in rows(lines):
        for line in row:
            text = join_text(text, line.text.strip())
    return text


def group_stray_lines(lines: Sequence[TextLine]) -> list[list[TextLine]]:
    """Clusters lines outside every layout box into paragraphs: a line joins the group whose last line is
    just above it (small vertical gap) and overlaps it horizontally."""
    groups: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda line: (line.bbox[1], line.bbox[0])):
        target = next((g for g in groups if _continues(g[-1], line)), None)
        if target is None:
            groups.append([line])
        else:
            target.append(line)
    return groups


def _continues(above: TextLine, below: TextLine) -> bool:
    height = max(above.bbox[3] - above.bbox[1], 1.0)
    gap = below.bbox[1] - above.bbox[3]
    return overlaps_horizontally(above.bbox, below.bbox) and -height * SAME_ROW_TOLERANCE <= gap < STRAY_GAP_LINE_HEIGHTS * height


def union_bbox(lines: Sequence[TextLine]) -> tuple[int, int, int, int]:
    return (
        int(min(line.bbox[0] for line in lines)),
        int(min(line.bbox[1] for line in lines)),
        int(round(max(line.bbox[2] for line in lines))),
        int(round(max(line.bbox[3] for line in lines))),
    )
