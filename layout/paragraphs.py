"""Paragraphs and titles from the text lines of a page's regions.

The embedded layout model boxes a whole column of running text as one `text` region, so its Markdown would lose
every paragraph break, and it never says which title is the document's. PP-DocLayoutV2, which the contract's
vocabulary comes from, boxes each paragraph and tells `doc_title` from `paragraph_title`. Here the lines inside a
region (OCR's or the PDF's own) say the same: a paragraph starts after a wider gap, at an indented first line, or
after a line that stops short when the next starts a sentence; a lone short line set larger than the body text is
a title, the largest one near the top of the page the document's.

Splitting keeps the region's place in the reading order: its paragraphs take its slot, top to bottom, so the
order of a dense three-column page stays what the layout made it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from statistics import median

from layout.geometry import union_box
from layout.ocr_assign import rows
from layout.types import BBox, TextLine


@dataclass(frozen=True)
class ParagraphRules:
    """In body line heights, so they hold at any resolution."""

    # A gap between two rows this much wider than the region's usual one separates paragraphs. The usual gap is the
    # median of the region's, but never above `max_usual_gap`: in a region of two rows the one gap is the median.
    extra_gap: float = 0.6
    max_usual_gap: float = 1.0
    # A row starting this far right of the region's left edge (and not further than `max_indent`, which is centred
    # text) after one that does not, is a paragraph's first line.
    min_indent: float = 0.8
    max_indent: float = 6.0
    # A row ending this far left of the region's right edge ends its paragraph when the next row starts a sentence.
    short_line: float = 3.0
    # A one-row paragraph whose line is this much taller than the body text, and no longer than `title_words`, is a
    # title.
    title_height: float = 1.25
    title_words: int = 14
    # The tallest title on the page is the document's when its line is this much taller than the body text and it
    # starts in this top share of the page.
    doc_title_height: float = 1.6
    doc_title_top_share: float = 0.35


@dataclass(frozen=True)
class Row:
    lines: tuple[TextLine, ...]

    @property
    def bbox(self) -> BBox:
        return reduce(union_box, (line.bbox for line in self.lines))

    @property
    def height(self) -> float:
        return median(line.bbox[3] - line.bbox[1] for line in self.lines)

    @property
    def text(self) -> str:
        return " ".join(line.text.strip() for line in self.lines)


def text_rows(lines: Sequence[TextLine]) -> list[Row]:
    return [Row(tuple(row)) for row in rows(lines)]


def body_height(regions: Sequence[Sequence[TextLine]]) -> float | None:
    """The typical line height of the page's running text (None: the page has none)."""
    heights = [row.height for lines in regions for row in text_rows(lines)]
    return median(heights) if heights else None


def paragraphs(lines: Sequence[TextLine], body: float, rules: ParagraphRules = ParagraphRules()) -> list[list[Row]]:
    """The region's rows grouped into paragraphs, top to bottom."""
    found = text_rows(lines)
    if len(found) < 2:
        return [found] if found else []
    left = min(row.bbox[0] for row in found)
    right = max(row.bbox[2] for row in found)
    usual_gap = min(median(below.bbox[1] - above.bbox[3] for above, below in zip(found, found[1:])),
                    rules.max_usual_gap * body)
    groups = [[found[0]]]
    for i in range(1, len(found)):
        if _starts_paragraph(found[i - 1], found[i], found[i + 1] if i + 1 < len(found) else None,
                             left, right, usual_gap, body, rules):
            groups.append([found[i]])
        else:
            groups[-1].append(found[i])
    return groups


def _starts_paragraph(
    above: Row, row: Row, below: Row | None, left: float, right: float, usual_gap: float, body: float,
    rules: ParagraphRules,
) -> bool:
    if row.bbox[1] - above.bbox[3] > usual_gap + rules.extra_gap * body:
        return True

    def indented(candidate: Row) -> bool:
        return candidate.bbox[0] - left > rules.min_indent * body

    # A first-line indent: this row in, the row before and the row after out. Not when the row before starts a list
    # item (the rows after an item's first are in: a hanging indent), and a lone indented last row says nothing.
    first_line = (
        indented(row) and row.bbox[0] - left <= rules.max_indent * body
        and not indented(above) and not _LIST_ITEM.match(above.text) and below is not None and not indented(below)
    )
    return (
        first_line or bool(_LIST_ITEM.match(row.text))
        or (right - above.bbox[2] > rules.short_line * body and _starts_sentence(row.text))
    )


# A list item's start, which also starts a paragraph: a bullet, or a number or letter with a dot or parenthesis,
# then a space. Not a dash: running text wraps before one.
_LIST_ITEM = re.compile(r"\s*([•·▪◦‣*]|\(?(\d+|[a-zA-Z])[.)])\s")


def _starts_sentence(text: str) -> bool:
    first = text.lstrip()[:1]
    return bool(first) and (first.isupper() or first.isdigit() or not first.isalnum())


def is_title(paragraph: Sequence[Row], body: float, rules: ParagraphRules = ParagraphRules()) -> bool:
    """A lone short line set larger than the body text."""
    if len(paragraph) != 1:
        return False
    [row] = paragraph
    return row.height >= rules.title_height * body and len(row.text.split()) <= rules.title_words


def is_doc_title(
    height: float, top: float, page_height: float, body: float, rules: ParagraphRules = ParagraphRules()
) -> bool:
    """Whether the page's tallest title (line `height`, starting at `top`) is the document's."""
    return height >= rules.doc_title_height * body and top <= rules.doc_title_top_share * page_height
