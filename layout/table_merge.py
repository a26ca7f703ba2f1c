"""Joining a table that a page break split in two (spec §5.10, "table merge").

The later part's rows, less any header rows it repeats, are appended to the earlier part's HTML. Only the
decision and the splice live here; `layout.restructure` walks the pages and keeps the global ids.

Tables are read as the recognisers write them: `<tr>` rows of `<td>`/`<th>` cells, every element closed, no
table nested inside a cell.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from layout.labels import (
    CONTINUATION_MARK_LABELS,
    TABLE_CONTINUATION_FOLLOWERS,
    TABLE_CONTINUATION_PRECEDERS,
    TABLE_LABEL,
)
from layout.types import Block

# Widths of the two parts may differ by less than this share of the narrower one (a page's margins move).
MAX_WIDTH_DIFFERENCE = 0.1
# Repeated header rows are looked for among this many leading rows.
MAX_HEADER_ROWS = 5
# Text marking a block as belonging to a continued table ("Table 3 (continued)", "续表"). Both curly quotes are
# listed: recognition writes either.
CONTINUATION_KEYWORDS: tuple[str, ...] = ("continue", "cont'd", "cont’d", "cont‘d", "续", "續")
# Full-width ASCII forms (！ … ～) sit at a fixed offset from their half-width twins.
FULLWIDTH_FIRST, FULLWIDTH_LAST, FULLWIDTH_OFFSET = 0xFF01, 0xFF5E, 0xFEE0
DEFAULT_SPAN = 1

_ROW = re.compile(r"<tr\b[^>]*>(.*?)</tr\s*>", re.IGNORECASE | re.DOTALL)
_CELL = re.compile(r"<(t[dh])\b([^>]*)>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SPAN_ATTRIBUTE = r"(?:^|\s){}\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))"
_COLSPAN = re.compile(_SPAN_ATTRIBUTE.format("colspan"), re.IGNORECASE)
_ROWSPAN = re.compile(_SPAN_ATTRIBUTE.format("rowspan"), re.IGNORECASE)


@dataclass(frozen=True)
class Cell:
    text: str
    colspan: int
    rowspan: int


@dataclass(frozen=True)
class Row:
    markup: str  # the row's own `<tr>…</tr>` text, spliced as it is
    end: int  # offset just past the row in its table's HTML
    cells: tuple[Cell, ...]


def merge_continued_table(
    earlier_page: Sequence[Block], earlier: int, later_page: Sequence[Block], later: int
) -> str | None:
    """HTML of table `earlier_page[earlier]` with the rows of `later_page[later]` appended, or None when the
    later table does not continue the earlier one.

    It does when both parts are about as wide, only page furniture follows the earlier part and precedes the
    later one (or a block marked as a continuation), and the parts have as many columns — counted over the
    whole table, or on the earlier part's last row against the later part's first row after its repeated header.
    """
    first, second = earlier_page[earlier], later_page[later]
    if not (_similar_widths(first, second) and first.content and second.content):
        return None
    if not all(block.label in TABLE_CONTINUATION_FOLLOWERS for block in earlier_page[earlier + 1 :]):
        return None
    if not all(_may_precede_continuation(block) for block in later_page[:later]):
        return None
    rows, added = table_rows(first.content), table_rows(second.content)
    body = added[repeated_header_rows(rows, added) :]
    same_width = total_columns(rows) == total_columns(added)
    if not (same_width or (rows and body and _rows_align(rows[-1], body[0]))):
        return None
    if not body:  # the later part only repeats the header (or is empty): nothing to append, still one table
        return first.content
    if not rows:  # a table without rows has nowhere to append to (PaddleX fails here)
        return None
    insert_at = rows[-1].end
    return first.content[:insert_at] + "".join(row.markup for row in body) + first.content[insert_at:]


def first_table(blocks: Sequence[Block]) -> int | None:
    return next((i for i, block in enumerate(blocks) if block.label == TABLE_LABEL), None)


def last_table(blocks: Sequence[Block]) -> int | None:
    return next((i for i in reversed(range(len(blocks))) if blocks[i].label == TABLE_LABEL), None)


def table_rows(table_html: str) -> list[Row]:
    return [
        Row(match.group(0), match.end(), tuple(_cell(cell) for cell in _CELL.finditer(match.group(1))))
        for match in _ROW.finditer(table_html)
    ]


def repeated_header_rows(earlier: Sequence[Row], later: Sequence[Row]) -> int:
    """How many leading rows the later part repeats from the earlier one: same cells, same text (ignoring
    whitespace and full-width forms), same column spans."""
    count = 0
    for first, second in zip(earlier[:MAX_HEADER_ROWS], later[:MAX_HEADER_ROWS]):
        if len(first.cells) != len(second.cells) or not all(map(_same_cell, first.cells, second.cells)):
            break
        count += 1
    return count


def total_columns(rows: Sequence[Row]) -> int:
    """The table's width in grid columns: cells are placed left to right, skipping grid slots that a row span
    from above already fills."""
    filled: dict[int, set[int]] = {}
    width = 0
    for r, row in enumerate(rows):
        column = 0
        for cell in row.cells:
            while column in filled.get(r, ()):
                column += 1
            for spanned_row in range(r, r + cell.rowspan):
                filled.setdefault(spanned_row, set()).update(range(column, column + cell.colspan))
            column += cell.colspan
            width = max(width, column)
    return width


def _rows_align(last: Row, first: Row) -> bool:
    """The rows either side of the page break have as many columns, counting spans or counting cells."""
    spanned = sum(cell.colspan for cell in last.cells) == sum(cell.colspan for cell in first.cells)
    return spanned or len(last.cells) == len(first.cells)


def _similar_widths(first: Block, second: Block) -> bool:
    first_width, second_width = first.bbox[2] - first.bbox[0], second.bbox[2] - second.bbox[0]
    if first_width == 0 or second_width == 0:
        return False
    return abs(first_width - second_width) / min(first_width, second_width) < MAX_WIDTH_DIFFERENCE


def _may_precede_continuation(block: Block) -> bool:
    """Page furniture, or a caption or text saying the table goes on."""
    if block.label in TABLE_CONTINUATION_PRECEDERS:
        return True
    text = block.content.lower()
    return block.label in CONTINUATION_MARK_LABELS and any(keyword in text for keyword in CONTINUATION_KEYWORDS)


def _cell(match: re.Match[str]) -> Cell:
    attributes = match.group(2)
    text = html.unescape(_TAG.sub("", match.group(3)))
    return Cell(text, _span(_COLSPAN, attributes), _span(_ROWSPAN, attributes))


def _span(attribute: re.Pattern[str], attributes: str) -> int:
    """A span attribute's value; a missing or non-numeric one counts as no span."""
    found = attribute.search(attributes)
    if found is None:
        return DEFAULT_SPAN
    value = next(group for group in found.groups() if group is not None)
    try:
        return int(value)
    except ValueError:
        return DEFAULT_SPAN


def _same_cell(first: Cell, second: Cell) -> bool:
    return first.colspan == second.colspan and _comparable(first.text) == _comparable(second.text)


def _comparable(text: str) -> str:
    """Cell text as header matching compares it: full-width forms made half-width, all whitespace removed."""
    half_width = "".join(
        chr(ord(char) - FULLWIDTH_OFFSET) if FULLWIDTH_FIRST <= ord(char) <= FULLWIDTH_LAST else char for char in text
    )
    return "".join(half_width.split())
