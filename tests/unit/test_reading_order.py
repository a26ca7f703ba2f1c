from __future__ import annotations

from layout.labels import LABEL_TO_ID
from layout.reading_order import assign_reading_order, read_runs_together
from layout.types import BBox, Detection

PAGE = (1000, 1400)
LEFT, RIGHT = (50, 480), (520, 950)  # x ranges of a two-column page with a 40 px gutter
FULL = (50, 950)


def det(name: str, x: tuple[float, float], y: tuple[float, float], label: str = "text") -> tuple[str, Detection]:
    """A named detection; the name is only for reading the assertions."""
    bbox: BBox = (x[0], y[0], x[1], y[1])
    return name, Detection(cls_id=LABEL_TO_ID[label], label=label, score=0.9, bbox=bbox)


def reading(named: list[tuple[str, Detection]]) -> list[str]:
    """Names in assigned reading order. Input is shuffled-ish on purpose by the callers (right column first)."""
    ordered = assign_reading_order([d for _, d in named], PAGE)
    names_by_rank = sorted(zip(ordered, (n for n, _ in named)), key=lambda pair: pair[0].model_order or 0)
    return [name for _, name in names_by_rank]


def test_two_column_page_reads_title_then_left_column_then_right_column() -> None:
    # Paragraph gaps of both columns line up on purpose: a row-first cut would interleave the columns.
    page = [
        det("R1", RIGHT, (200, 400)),
        det("R2", RIGHT, (420, 700)),
        det("L2", LEFT, (420, 700)),
        det("L1", LEFT, (200, 400)),
        det("title", FULL, (80, 150), label="doc_title"),
        det("L3", LEFT, (720, 1000)),
        det("R3", RIGHT, (720, 1000)),
    ]
    assert reading(page) == ["title", "L1", "L2", "L3", "R1", "R2", "R3"]


def test_full_width_block_separates_two_two_column_sections() -> None:
    page = [
        det("B-R1", RIGHT, (900, 1100)),
        det("A-R1", RIGHT, (100, 300)),
        det("figure", FULL, (620, 860), label="image"),
        det("A-L1", LEFT, (100, 300)),
        det("A-L2", LEFT, (320, 600)),
        det("A-R2", RIGHT, (320, 600)),
        det("B-L1", LEFT, (900, 1100)),
        det("B-L2", LEFT, (1120, 1300)),
        det("B-R2", RIGHT, (1120, 1300)),
    ]
    assert reading(page) == ["A-L1", "A-L2", "A-R1", "A-R2", "figure", "B-L1", "B-L2", "B-R1", "B-R2"]


def test_narrow_centred_title_spanning_the_gutter_also_separates_sections() -> None:
    page = [
        det("A-R", RIGHT, (100, 300)),
        det("A-L", LEFT, (100, 300)),
        det("heading", (400, 600), (320, 360), label="paragraph_title"),
        det("B-R", RIGHT, (380, 600)),
        det("B-L", LEFT, (380, 600)),
    ]
    assert reading(page) == ["A-L", "A-R", "heading", "B-L", "B-R"]


def test_headers_come_first_and_footers_last_whatever_their_position() -> None:
    page = [
        det("page-number", (900, 950), (20, 50), label="number"),
        det("footer", FULL, (1350, 1380), label="footer"),
        det("body", FULL, (200, 1200)),
        det("header", FULL, (60, 90), label="header"),
        det("logo", (50, 150), (10, 55), label="header_image"),
        det("footnote", FULL, (1250, 1300), label="footnote"),
    ]
    assert reading(page) == ["logo", "header", "body", "page-number", "footnote", "footer"]


def test_single_column_reads_top_to_bottom() -> None:
    page = [det("p3", FULL, (700, 900)), det("p1", FULL, (100, 300)), det("p2", FULL, (320, 680))]
    assert reading(page) == ["p1", "p2", "p3"]


def test_slightly_overlapping_columns_are_still_read_column_by_column() -> None:
    # The left boxes run 8 px into the right column: less than the 1 % (10 px) tolerance.
    left, right = (50, 508), (500, 950)
    page = [
        det("R1", right, (100, 300)),
        det("L1", left, (100, 300)),
        det("L2", left, (298, 600)),  # and 2 px into the paragraph above
        det("R2", right, (320, 600)),
    ]
    assert reading(page) == ["L1", "L2", "R1", "R2"]


def test_side_by_side_figures_inside_a_column_read_left_to_right() -> None:
    page = [
        det("after", FULL, (700, 900)),
        det("fig-b", (520, 950), (300, 650), label="image"),
        det("fig-a", (50, 480), (300, 650), label="image"),
        det("before", FULL, (100, 280)),
    ]
    assert reading(page) == ["before", "fig-a", "fig-b", "after"]


def test_result_keeps_input_order_and_sets_consecutive_ranks_on_copies() -> None:
    detections = [d for _, d in [det("b", FULL, (500, 600)), det("a", FULL, (100, 200))]]
    ordered = assign_reading_order(detections, PAGE)
    assert [d.bbox for d in ordered] == [d.bbox for d in detections]
    assert [d.model_order for d in ordered] == [1, 0]
    assert all(d.model_order is None for d in detections)


def test_empty_page_has_no_order() -> None:
    assert assign_reading_order([], PAGE) == []


def test_a_run_is_read_without_interruption_and_what_lay_between_follows_it() -> None:
    # Blocks 1 and 4 are one paragraph around the pictures 2 and 3; block 5 keeps its place after them.
    assert read_runs_together(6, [[0], [1, 4], [5]]) == [0, 1, 4, 2, 3, 5]


def test_runs_of_one_block_change_nothing() -> None:
    assert read_runs_together(4, [[0], [2]]) == [0, 1, 2, 3]


def test_consecutive_runs_each_pull_their_members_together() -> None:
    assert read_runs_together(7, [[0, 2], [3, 6]]) == [0, 2, 1, 3, 6, 4, 5]
