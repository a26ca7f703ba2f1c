"""Cross-page restructuring (spec §3.5, §5.10): global ids, continued tables, title levels, concatenation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from layout.restructure import Page, concatenate_pages, page_from_pruned_result, restructure_pages
from layout.table_merge import repeated_header_rows, table_rows, total_columns
from layout.title_levels import height_ranks, numbering_of, title_levels
from layout.types import Block

WIDTH, HEIGHT = 1000, 1400
HEADER = ("Name", "Year")


def html(*rows: tuple[str | tuple[str, int], ...]) -> str:
    """A table of the given rows; a cell is its text, or (text, colspan)."""

    def cell(value: str | tuple[str, int]) -> str:
        text, span = (value, 1) if isinstance(value, str) else value
        return f'<td colspan="{span}">{text}</td>' if span > 1 else f"<td>{text}</td>"

    return "<table>" + "".join("<tr>" + "".join(map(cell, row)) + "</tr>" for row in rows) + "</table>"


def table(*rows: tuple[str | tuple[str, int], ...], x2: int = 900) -> Block:
    return Block("table", (100, 100, x2, 600), html(*rows))


def page(*blocks: Block) -> Page:
    return Page(WIDTH, HEIGHT, tuple(blocks))


def title(text: str, height: int = 30, width: int = 400) -> Block:
    return Block("paragraph_title", (100, 100, 100 + width, 100 + height), text)


def split_table(
    *before_second: Block,
    after_first: tuple[Block, ...] = (),
    second_rows: tuple[tuple[str, ...], ...] = (HEADER, ("b", "2")),
    second_x2: int = 900,
) -> list[Page]:
    """A two-page document: a table ending page 1 and one starting page 2, with the blocks given around them."""
    first = page(Block("text", (100, 20, 900, 90), "intro"), table(HEADER, ("a", "1")), *after_first)
    return [first, page(*before_second, table(*second_rows, x2=second_x2))]


def merged(pages: list[Page]) -> bool:
    """Whether page 2's first table was merged into page 1's last one."""
    later = next(b for b in restructure_pages(pages, relevel_titles=False)[1].blocks if b.label == "table")
    return later.global_group_id != later.global_block_id


# --- global ids -------------------------------------------------------------------------------------------------


def test_blocks_are_numbered_across_pages_each_its_own_group() -> None:
    pages = [page(Block("text", (0, 0, 9, 9), "a"), Block("text", (0, 20, 9, 29), "b")), page(), page(title("1 X"))]
    result = restructure_pages(pages)
    assert [[b.global_block_id for b in p.blocks] for p in result] == [[0, 1], [], [2]]
    assert [[b.global_group_id for b in p.blocks] for p in result] == [[0, 1], [], [2]]
    assert [(p.width, p.height) for p in result] == [(WIDTH, HEIGHT)] * 3


def test_the_callers_pages_are_left_unchanged() -> None:
    pages = split_table()
    before = [replace(b) for p in pages for b in p.blocks]
    restructure_pages(pages)
    assert [b for p in pages for b in p.blocks] == before
    assert all(b.global_block_id is None for p in pages for b in p.blocks)


def test_no_pages_restructure_to_none() -> None:
    assert restructure_pages([]) == []


# --- table merge ------------------------------------------------------------------------------------------------


def test_a_table_continued_on_the_next_page_is_merged_into_the_first_part() -> None:
    first, second = restructure_pages(split_table(), relevel_titles=False)
    assert first.blocks[1].content == html(HEADER, ("a", "1"), ("b", "2"))
    assert second.blocks[0].content == ""
    assert second.blocks[0].global_group_id == first.blocks[1].global_block_id == 1
    assert second.blocks[0].global_block_id == 2


def test_a_header_the_next_page_repeats_is_not_repeated_in_the_merged_table() -> None:
    first, _ = restructure_pages(split_table(second_rows=(("Ｎａｍｅ", "Ye ar"), ("b", "2"))), relevel_titles=False)
    assert first.blocks[1].content == html(HEADER, ("a", "1"), ("b", "2"))


def test_a_continuation_without_the_header_keeps_all_its_rows() -> None:
    first, _ = restructure_pages(split_table(second_rows=(("b", "2"), ("c", "3"))), relevel_titles=False)
    assert first.blocks[1].content == html(HEADER, ("a", "1"), ("b", "2"), ("c", "3"))


def test_a_continuation_that_only_repeats_the_header_joins_the_table_adding_nothing() -> None:
    first, second = restructure_pages(split_table(second_rows=(HEADER,)), relevel_titles=False)
    assert first.blocks[1].content == html(HEADER, ("a", "1"))
    assert (second.blocks[0].content, second.blocks[0].global_group_id) == ("", 1)


def test_a_table_over_three_pages_points_every_part_at_the_first() -> None:
    pages = [page(table(HEADER, ("a", "1"))), page(table(HEADER, ("b", "2"))), page(table(HEADER, ("c", "3")))]
    result = restructure_pages(pages)
    assert [p.blocks[0].global_group_id for p in result] == [0, 0, 0]
    assert result[0].blocks[0].content == html(HEADER, ("a", "1"), ("b", "2"), ("c", "3"))
    assert [p.blocks[0].content for p in result[1:]] == ["", ""]


@pytest.mark.parametrize(
    ("pages", "why"),
    [
        (split_table(second_rows=(("b", "2", "x"),)), "another column count"),
        (split_table(second_x2=800), "another width"),
        (split_table(after_first=(Block("text", (100, 700, 900, 750), "after"),)), "text after the first part"),
        (split_table(Block("text", (100, 20, 900, 50), "Page intro")), "text before the second part"),
        (split_table(title("2 Next")), "a title before the second part"),
        (split_table(second_rows=()), "an empty second part"),
    ],
)
def test_a_table_that_does_not_continue_the_previous_one_is_not_merged(pages: list[Page], why: str) -> None:
    assert not merged(pages), why


def test_page_furniture_around_the_break_does_not_prevent_the_merge() -> None:
    footer = Block("footer", (100, 1300, 900, 1350), "p. 1")
    header = Block("header", (100, 10, 900, 40), "Annual report")
    assert merged(split_table(header, Block("number", (900, 10, 950, 40), "2"), after_first=(footer,)))


@pytest.mark.parametrize("caption", ["Table 2 (continued)", "Table 2 (Cont’d)", "续表 2"])
def test_a_caption_saying_the_table_continues_does_not_prevent_the_merge(caption: str) -> None:
    assert merged(split_table(Block("figure_title", (100, 20, 900, 50), caption)))


def test_rows_that_line_up_across_the_break_merge_a_table_whose_spans_differ() -> None:
    """The whole tables differ in width (a three-column header span), but the rows either side of the break have
    two cells each."""
    earlier = [page(table((("Group", 3),), ("a", "1")))]
    later = [page(table(("b", "2")))]
    result = restructure_pages(earlier + later)
    assert result[1].blocks[0].global_group_id == 0


def test_merging_can_be_turned_off() -> None:
    _, second = restructure_pages(split_table(), merge_tables=False)
    assert second.blocks[0].content == html(HEADER, ("b", "2"))
    assert second.blocks[0].global_group_id == second.blocks[0].global_block_id


def test_table_columns_count_spans_and_cells_held_by_a_row_span_above() -> None:
    rows = table_rows('<table><tr><td rowspan="2">a</td><td colspan="2">b</td></tr><tr><td>c</td></tr></table>')
    assert total_columns(rows) == 3
    assert [[(c.text, c.colspan, c.rowspan) for c in row.cells] for row in rows] == [
        [("a", 1, 2), ("b", 2, 1)],
        [("c", 1, 1)],
    ]


def test_header_rows_are_matched_on_text_and_spans_for_at_most_five_rows() -> None:
    six = [(f"h{i}", "x") for i in range(6)]
    assert repeated_header_rows(table_rows(html(*six)), table_rows(html(*six))) == 5
    assert repeated_header_rows(table_rows(html(("a b", "&lt;"))), table_rows(html(("ab", "<")))) == 1
    assert repeated_header_rows(table_rows(html((("a", 2),))), table_rows(html(("a",)))) == 0


# --- title levels -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "style", "level"),
    [
        ("1 Introduction", "dotted", 1),
        ("2.1 Data", "dotted", 2),
        ("3.2.1 Details", "dotted", 3),
        ("3D scenes", "dotted", 1),
        ("(1) Setup", "bracketed", 4),
        ("2.1) Setup", "bracketed", 4),
        ("IV. Results", "roman", 1),
        ("ii) Notes", "roman", 1),
        ("一、总则", "chinese", 1),
        ("第三章 方法", "chinese", 1),
        ("（五）附则", "chinese", 1),
        ("A. Proofs", "letter", 2),
        ("b) Extra", "letter", 2),
    ],
)
def test_numbering_styles_and_the_level_they_imply(text: str, style: str, level: int) -> None:
    numbering = numbering_of(text)
    assert numbering is not None and (numbering.style, numbering.level) == (style, level)


@pytest.mark.parametrize("text", ["Introduction", "Related Work", "三维重建", "Ablation"])
def test_titles_without_numbering(text: str) -> None:
    assert numbering_of(text) is None


def test_taller_titles_rank_higher_with_at_most_four_classes() -> None:
    assert height_ranks([40, 30, 20, 40]) == [1, 2, 3, 1]
    assert height_ranks([50, 48, 30, 20, 10]) == [1, 1, 2, 3, 4]
    assert height_ranks([]) == []


def test_line_height_divides_a_wrapped_title_by_its_lines() -> None:
    one_line, two_lines = title("Related Work", height=30), title("Related\nWork", height=60)
    assert title_levels([one_line, two_lines, title("Overview", height=20)]) == [1, 1, 2]


def test_numbering_level_wins_when_the_height_agrees() -> None:
    titles = [title("1 Introduction", 40), title("1.1 Scope", 30), title("1.1.1 Terms", 20)]
    assert title_levels(titles) == [1, 2, 3]


def test_the_style_rank_decides_when_numbering_and_height_disagree() -> None:
    """`(1)` implies level 4, but it is the second style met and no taller than the `1` titles."""
    titles = [title("1 Introduction", 30), title("(1) Setup", 30), title("2 Method", 30)]
    assert title_levels(titles) == [1, 2, 1]


def test_section_names_are_first_level_and_other_titles_follow_their_height() -> None:
    titles = [title("References:", 20), title("Some Heading", 40), title("Small Heading", 20)]
    assert title_levels(titles) == [1, 1, 2]


def test_a_level_below_the_top_is_raised_to_it() -> None:
    """Dotted numbers rank from the first one met: `1` after `1.1.1` would be level −1."""
    titles = [title("1.1.1 Terms", 30), title("1 Introduction", 20)]
    assert title_levels(titles) == [1, 0]


def test_titles_are_relevelled_across_pages_and_doc_titles_keep_none() -> None:
    pages = [
        page(Block("doc_title", (100, 20, 900, 80), "Report"), title("1 Introduction", 40)),
        page(title("1.1 Scope", 30), Block("text", (100, 200, 900, 300), "x")),
    ]
    levels = [[b.title_level for b in p.blocks] for p in restructure_pages(pages)]
    assert levels == [[None, 1], [2, None]]
    assert all(b.title_level is None for p in restructure_pages(pages, relevel_titles=False) for b in p.blocks)


# --- concatenation ----------------------------------------------------------------------------------------------


def test_concatenated_pages_are_one_page_with_ids_and_orders_running_on() -> None:
    first = page(Block("text", (0, 0, 9, 9), "a", 0, 1, 0), Block("text", (0, 20, 9, 29), "b", 1, 2, 0))
    second = Page(800, 600, (Block("table", (0, 0, 9, 9), "", 0, None, 0), Block("text", (0, 0, 9, 9), "c", 1, 1, 1)))
    whole = concatenate_pages(restructure_pages([first, second]))
    assert (whole.width, whole.height) == (WIDTH, HEIGHT)
    assert [(b.content, b.block_id, b.group_id, b.block_order, b.page_index) for b in whole.blocks] == [
        ("a", 0, 0, 1, 0),
        ("b", 1, 0, 2, 0),
        ("", 2, 2, None, 1),
        ("c", 3, 3, 3, 1),
    ]
    assert [b.global_block_id for b in whole.blocks] == [0, 1, 2, 3]
    assert first.blocks[1].page_index is None


def test_concatenating_no_pages_is_an_error() -> None:
    with pytest.raises(ValueError):
        concatenate_pages([])


# --- from the wire ----------------------------------------------------------------------------------------------


def test_a_pruned_result_becomes_a_page() -> None:
    pruned = {
        "width": 1000,
        "height": 1400,
        "parsing_res_list": [
            {"block_label": "paragraph_title", "block_content": "## 1 Intro", "block_bbox": [1.9, 2, 300, 40],
             "block_id": 7, "block_order": 1, "group_id": 0},
            {"block_label": "text", "block_content": "#hashtag ## not a heading", "block_bbox": [1, 50, 300, 90],
             "block_order": 2, "block_polygon_points": [[1, 50], [300.5, 50], [300, 90], [1, 90]]},
        ],
    }  # fmt: skip
    result = page_from_pruned_result(pruned)
    assert (result.width, result.height) == (1000, 1400)
    first, second = result.blocks
    assert (first.label, first.content, first.bbox, first.block_id, first.block_order, first.group_id) == (
        "paragraph_title", "1 Intro", (1, 2, 300, 40), 0, 1, 0,
    )  # fmt: skip
    assert (second.content, second.block_id, second.group_id) == ("#hashtag ## not a heading", 1, 1)
    assert second.polygon == ((1, 50), (300, 50), (300, 90), (1, 90))
