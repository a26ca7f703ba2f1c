"""Tables told from their lines, for backends that read a page as lines.

The embedded layout model misses tables and invents them: a financial statement without rules comes back as `text`
or `reference` and is flattened into a paragraph, a second table as an `image`; a three-column newspaper page as one
`table` whose cells are the columns' lines; a table's group-header row falls outside its box. The lines inside a box
say what it is. A table is rows of several short cells whose columns keep their gutters; running text is lines of
words. These rules decide which, and find the header rows a table box left out above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from layout.geometry import overlaps_horizontally
from layout.paragraphs import Row, text_rows
from layout.reading_order import column_blocks
from layout.types import BBox, TextLine


@dataclass(frozen=True)
class TableRules:
    # A grid has at least this many rows, and this share of them hold two or more cells side by side: a key-value
    # list or a two-line caption is not a table.
    min_rows: int = 3
    min_multi_cell_share: float = 0.6
    # A cell holds a label or a figure: the median line of a grid has at most this many words. A line of running
    # text in a column holds 6-12.
    max_cell_words: int = 4
    # A picture becomes a table only when its lines cover at least this share of it: a chart's axis labels and a
    # diagram's captions form rows too, but over a mostly empty box.
    min_picture_coverage: float = 0.15
    # A `table` box is running text when at least `prose_share` of its lines (and at least `min_prose_lines`) hold
    # `prose_words` words or more: in a real table the label and figure columns keep most lines short, even beside a
    # column of descriptions.
    prose_words: int = 5
    prose_share: float = 0.8
    min_prose_lines: int = 6
    # A row of cells just above a table box is its header (a group-header row the box left out) when the gap to the
    # table is at most this many of the table's row heights and the row lies within the table's width.
    header_gap: float = 1.5


def is_grid(lines: Sequence[TextLine], rules: TableRules = TableRules()) -> bool:
    """Whether lines form a table: rows of short cells, most rows holding several, in at least two columns that keep
    a gutter between them from top to bottom."""
    rows = text_rows(lines)
    if len(rows) < rules.min_rows or median(_words(line) for line in lines) > rules.max_cell_words:
        return False
    multi = [row for row in rows if len(row.lines) > 1]
    if len(multi) < rules.min_multi_cell_share * len(rows):
        return False
    cells = [line.bbox for row in multi for line in row.lines]
    return len(column_blocks(cells)) >= 2


def is_running_text(lines: Sequence[TextLine], rules: TableRules = TableRules()) -> bool:
    """Whether a table box's lines are running text set in columns, not cells."""
    prose = sum(_words(line) >= rules.prose_words for line in lines)
    return prose >= rules.min_prose_lines and prose >= rules.prose_share * len(lines)


def text_columns(lines: Sequence[TextLine]) -> list[list[TextLine]]:
    """Running text set in columns, as its column blocks in reading order (layout.reading_order.column_blocks)."""
    return [[lines[i] for i in block] for block in column_blocks([line.bbox for line in lines])]


def header_rows(
    table: BBox, table_lines: Sequence[TextLine], candidates: Sequence[TextLine], rules: TableRules = TableRules()
) -> list[TextLine]:
    """The `candidates` that are header rows of the table: rows directly above its box, one after another upwards,
    each within the table's width and no further above the next than `header_gap` row heights."""
    if not table_lines:
        return []
    pitch = median(row.height for row in text_rows(table_lines))
    # One row height of slack either side: the layout model's box edges jitter by about that much.
    above = [
        line for line in candidates
        if line.bbox[3] <= table[1] + pitch / 2
        and line.bbox[0] >= table[0] - pitch and line.bbox[2] <= table[2] + pitch
    ]
    taken: list[TextLine] = []
    top = table[1]
    for row in reversed(text_rows(above)):
        if top - row.bbox[3] > rules.header_gap * pitch or not _spans_columns(row, table_lines):
            break
        taken += row.lines
        top = row.bbox[1]
    return taken


def _spans_columns(row: Row, table_lines: Sequence[TextLine]) -> bool:
    """A header row has several cells, or one cell over a group of the table's columns."""
    first = text_rows(table_lines)[0]
    return len(row.lines) > 1 or sum(overlaps_horizontally(row.bbox, line.bbox) for line in first.lines) > 1


def _words(line: TextLine) -> int:
    return len(line.text.split())
