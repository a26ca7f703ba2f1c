from __future__ import annotations

from layout.ocr_assign import assign_lines, block_text, group_stray_lines, join_text, rows, union_bbox
from layout.types import TextLine


def line(x1, y1, x2, y2, text="w") -> TextLine:
    return TextLine((x1, y1, x2, y2), text, 0.9)


def test_a_line_goes_to_the_box_containing_its_centre():
    per_box, stray = assign_lines([line(10, 10, 90, 20, "a")], [(0, 0, 100, 50), (0, 60, 100, 100)])
    assert [[l.text for l in b] for b in per_box] == [["a"], []] and stray == []


def test_a_line_in_nested_boxes_goes_to_the_smallest():
    per_box, _ = assign_lines([line(10, 10, 40, 20, "caption")], [(0, 0, 200, 200), (5, 5, 50, 25)])
    assert [len(b) for b in per_box] == [0, 1]


def test_a_line_whose_centre_is_outside_every_box_is_stray():
    _, stray = assign_lines([line(300, 300, 400, 320, "lost")], [(0, 0, 100, 100)])
    assert [l.text for l in stray] == ["lost"]


def test_lines_on_one_row_read_left_to_right_then_rows_top_to_bottom():
    lines = [line(200, 11, 300, 31, "b"), line(0, 10, 100, 30, "a"), line(0, 50, 100, 70, "c")]
    assert [[l.text for l in r] for r in rows(lines)] == [["a", "b"], ["c"]]
    assert block_text(lines) == "a b c"


def test_join_removes_line_end_hyphen_before_lowercase_and_keeps_cjk_tight():
    assert join_text("conver-", "sion") == "conversion"
    assert join_text("self-", "Contained") == "self- Contained"
    assert join_text("中文", "文本") == "中文文本"
    assert join_text("word", "next") == "word next"


def test_stray_lines_group_into_paragraphs_by_gap_and_overlap():
    first = [line(0, 0, 100, 20, "p1a"), line(0, 24, 100, 44, "p1b")]
    second = [line(0, 200, 100, 220, "p2")]
    groups = group_stray_lines([*second, *first])
    assert [[l.text for l in g] for g in groups] == [["p1a", "p1b"], ["p2"]]
    assert union_bbox(first) == (0, 0, 100, 44)
