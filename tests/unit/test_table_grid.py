"""Tables told from running text by their lines (layout/table_grid.py) and column blocks (layout/reading_order.py)."""

from __future__ import annotations

from layout.ocr_assign import union_bbox
from layout.reading_order import column_blocks
from layout.table_grid import TableRules, header_rows, is_grid, is_running_text, text_columns
from layout.types import TextLine

BODY = 24.0
PITCH = 32.0
CHAR = 12.0
RULES = TableRules()

LABEL_LEFT = 100.0
THIS_YEAR_RIGHT = 600.0
LAST_YEAR_RIGHT = 800.0
STATEMENT = [
    ("Revenue", "12,480", "11,960"),
    ("Cost of sales", "(7,310)", "(7,020)"),
    ("Gross profit", "5,170", "4,940"),
    ("Operating expenses", "(3,260)", "(3,105)"),
    ("Operating profit", "1,910", "1,835"),
    ("Net finance costs", "(240)", "(255)"),
    ("Profit for the year", "1,670", "1,580"),
]

COLUMN_SPANS = [(100.0, 360.0), (380.0, 640.0), (660.0, 920.0)]
PROSE = [
    [
        "The harbour board met on Tuesday to discuss",
        "the new tariffs that shipping lines have asked",
        "for since the spring, and the members agreed",
        "that the rates of last year would stand until",
        "the end of the season in the autumn months",
        "when the accounts of the port are closed and",
        "the surveyors report on the state of the piers",
        "and the dredging of the outer channel again",
    ],
    [
        "Fishermen on the north quay said the catch",
        "had been better than in any year they could",
        "remember, though prices at the market fell as",
        "the larger boats from the south came in early",
        "and landed their fish before the local fleet",
        "had a chance to reach the auction hall, which",
        "opens at five in the morning on weekdays and",
        "at six on Saturdays for the smaller traders",
    ],
    [
        "The lighthouse keeper retired this week after",
        "forty years on the rock, during which time he",
        "kept the lamp burning through every storm and",
        "logged more than two thousand ships passing by",
        "on their way to the river mouth and the docks",
        "beyond it, where his father had worked as a",
        "pilot guiding the tall ships over the sand bar",
        "before the channel was deepened for steamers",
    ],
]


def line(x1: float, x2: float, top: float, text: str, height: float = BODY) -> TextLine:
    return TextLine((x1, top, x2, top + height), text, 1.0)


def left_cell(top: float, text: str) -> TextLine:
    return line(LABEL_LEFT, LABEL_LEFT + CHAR * len(text), top, text)


def right_cell(right: float, top: float, text: str) -> TextLine:
    return line(right - CHAR * len(text), right, top, text)


def statement(top: float = 300.0, rows: int = len(STATEMENT)) -> list[TextLine]:
    lines = []
    for i, (label, this_year, last_year) in enumerate(STATEMENT[:rows]):
        y = top + i * PITCH
        lines += [left_cell(y, label), right_cell(THIS_YEAR_RIGHT, y, this_year),
                  right_cell(LAST_YEAR_RIGHT, y, last_year)]
    return lines


def prose_columns(top: float = 160.0) -> list[list[TextLine]]:
    """Each column's lines, top to bottom."""
    return [[line(x1, x2, top + i * PITCH, text) for i, text in enumerate(texts)]
            for (x1, x2), texts in zip(COLUMN_SPANS, PROSE)]


def row_major(columns: list[list[TextLine]]) -> list[TextLine]:
    return [column[i] for i in range(len(columns[0])) for column in columns]


def test_rows_of_a_label_and_two_right_aligned_figures_are_a_grid():
    assert is_grid(statement())


def test_three_columns_of_prose_lines_are_running_text_and_not_a_grid():
    lines = row_major(prose_columns())
    assert is_running_text(lines)
    assert not is_grid(lines)


def test_a_single_column_of_short_lines_is_not_a_grid():
    lines = [left_cell(300.0 + i * PITCH, label) for i, (label, _, _) in enumerate(STATEMENT)]
    assert not is_grid(lines)


def test_fewer_rows_than_min_rows_are_not_a_grid():
    short = statement(rows=RULES.min_rows - 1)
    assert not is_grid(short)
    assert is_grid(statement(rows=RULES.min_rows))
    assert is_grid(short, TableRules(min_rows=RULES.min_rows - 1))


def test_rows_of_long_lines_side_by_side_are_not_a_grid_even_with_gutters():
    lines = row_major(prose_columns())
    assert not is_grid(lines, TableRules(max_cell_words=6))
    assert is_grid(lines, TableRules(max_cell_words=10))


def test_a_table_with_a_long_description_column_beside_short_cells_is_not_running_text():
    descriptions = [
        "Replacement of the timber decking on the north quay",
        "New fenders and mooring bollards along the west berth",
        "Dredging of the outer channel to a depth of nine metres",
        "Repairs to the lighthouse lamp and its clockwork drive",
        "Resurfacing of the road from the gate to the fish market",
        "Survey of the breakwater after the storms of the winter",
        "Installation of shore power for the visiting cruise ships",
        "Painting of the cranes and the harbour master's office",
    ]
    lines = []
    for i, text in enumerate(descriptions):
        y = 300.0 + i * PITCH
        lines += [left_cell(y, f"Item {i + 1}"), line(240.0, 700.0, y, text), right_cell(900.0, y, f"{120 + 15 * i}")]
    description_lines = [found for found in lines if found.text in descriptions]
    assert is_running_text(description_lines)
    assert not is_running_text(lines)


def test_text_columns_reads_a_headline_then_each_column_top_to_bottom_left_to_right():
    columns = prose_columns(top=160.0)
    headline = line(100.0, 920.0, 100.0, "Harbour trade rises for a third year", height=40.0)
    assert text_columns([headline, *row_major(columns)]) == [[headline], *columns]


TABLE_TOP = 300.0
YEAR_TOP = TABLE_TOP - 8.0 - BODY
THIS_YEAR = right_cell(THIS_YEAR_RIGHT, YEAR_TOP, "2023")
LAST_YEAR = right_cell(LAST_YEAR_RIGHT, YEAR_TOP, "2022")
GROUP = line(520.0, LAST_YEAR_RIGHT, YEAR_TOP - 8.0 - BODY, "Year ended 31 December")
PARAGRAPH_TOP = GROUP.bbox[1] - 2 * BODY - 12.0 - BODY
PARAGRAPH = line(100.0, 800.0, PARAGRAPH_TOP, "The results of the board for the year are set out below.")
OLDER_YEARS = [right_cell(THIS_YEAR_RIGHT, PARAGRAPH_TOP - 8.0 - BODY, "2021"),
               right_cell(LAST_YEAR_RIGHT, PARAGRAPH_TOP - 8.0 - BODY, "2020")]
RIGHT_OF_TABLE = line(850.0, 940.0, YEAR_TOP, "Audited")
LEFT_OF_TABLE = line(20.0, 60.0, YEAR_TOP, "£m")
BELOW_TABLE = line(100.0, 500.0, 560.0, "Figures in thousands of pounds")


def test_header_rows_takes_the_year_row_and_the_group_header_and_stops_at_the_paragraph_above():
    table_lines = statement(top=TABLE_TOP)
    table = union_bbox(table_lines)
    assert PARAGRAPH.bbox[3] < GROUP.bbox[1] - RULES.header_gap * BODY
    candidates = [*OLDER_YEARS, PARAGRAPH, GROUP, THIS_YEAR, LAST_YEAR, BELOW_TABLE]
    assert header_rows(table, table_lines, candidates) == [THIS_YEAR, LAST_YEAR, GROUP]


def test_header_rows_ignores_lines_outside_the_tables_width():
    table_lines = statement(top=TABLE_TOP)
    table = union_bbox(table_lines)
    candidates = [LEFT_OF_TABLE, THIS_YEAR, LAST_YEAR, RIGHT_OF_TABLE]
    assert header_rows(table, table_lines, candidates) == [THIS_YEAR, LAST_YEAR]


def test_header_rows_stops_at_a_single_cell_over_one_column():
    table_lines = statement(top=TABLE_TOP)
    table = union_bbox(table_lines)
    restated = right_cell(LAST_YEAR_RIGHT, GROUP.bbox[1], "Restated")
    assert header_rows(table, table_lines, [restated, THIS_YEAR, LAST_YEAR]) == [THIS_YEAR, LAST_YEAR]
    assert header_rows(table, table_lines, [restated]) == []


def test_header_rows_of_a_table_without_lines_is_empty():
    assert header_rows((100, 300, 800, 500), [], [THIS_YEAR, LAST_YEAR]) == []


def test_column_blocks_reads_a_spanning_title_each_column_then_a_spanning_footer():
    title = (100, 50, 900, 80)
    left = [(100, 100 + 30 * i, 480, 120 + 30 * i) for i in range(3)]
    right = [(520, 100 + 30 * i, 900, 120 + 30 * i) for i in range(3)]
    footer = (100, 300, 900, 320)
    boxes = [title, left[0], right[0], left[1], right[1], left[2], right[2], footer]
    assert column_blocks(boxes) == [[0], [1, 3, 5], [2, 4, 6], [7]]
