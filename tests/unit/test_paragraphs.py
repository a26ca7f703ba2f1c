from __future__ import annotations

from collections.abc import Sequence

from layout.decode import open_document
from layout.ocr_assign import block_text, union_bbox
from layout.paragraphs import ParagraphRules, Row, body_height, is_doc_title, is_title, paragraphs, text_rows
from layout.types import Block, TextLine
from serve.backends.base import PageRecognition, Region, RegionReading
from serve.backends.line_structure import structured
from serve.config import InputConfig
from serve.pipeline import apply_recognition
from tests.pdf_samples import paragraphs_pdf

BODY = 20.0
PITCH = 28.0
LEFT = 100.0
RIGHT = 900.0
INDENT = LEFT + 2 * BODY
PAGE_WIDTH = 1000
PAGE_HEIGHT = 1000
PAGE_SIZE = (PAGE_WIDTH, PAGE_HEIGHT)
RULES = ParagraphRules()


def line(index: int, text: str, x1: float = LEFT, x2: float = RIGHT, *, top: float = 0.0,
         height: float = BODY) -> TextLine:
    y = top + index * PITCH
    return TextLine((x1, y, x2, y + height), text, 1.0)


def split(lines: Sequence[TextLine], body: float = BODY) -> list[list[str]]:
    return [[row.text for row in group] for group in paragraphs(lines, body)]


def one_row(text: str, height: float) -> list[Row]:
    return [Row((TextLine((LEFT, 100.0, 500.0, 100.0 + height), text, 1.0),))]


def test_evenly_spaced_full_width_rows_are_one_paragraph():
    lines = [line(i, text) for i, text in enumerate(["The first row", "Second row", "Third row", "4 fourth row"])]
    assert split(lines) == [["The first row", "Second row", "Third row", "4 fourth row"]]


def test_a_wider_gap_between_rows_starts_a_paragraph():
    gap = 1.5 * BODY
    lines = [line(0, "One"), line(1, "Two"), line(2, "Three"),
             line(3, "Four", top=gap), line(4, "Five", top=gap)]
    assert split(lines) == [["One", "Two", "Three"], ["Four", "Five"]]


def test_a_gap_only_a_little_wider_than_usual_does_not_split():
    nudge = 0.5 * RULES.extra_gap * BODY
    lines = [line(0, "One"), line(1, "Two"), line(2, "Three", top=nudge), line(3, "Four", top=nudge)]
    assert split(lines) == [["One", "Two", "Three", "Four"]]


def test_an_indented_first_line_starts_a_paragraph():
    lines = [line(0, "First para", INDENT), line(1, "goes on"), line(2, "and on"),
             line(3, "Second para", INDENT), line(4, "goes on"), line(5, "to its end")]
    assert split(lines) == [["First para", "goes on", "and on"], ["Second para", "goes on", "to its end"]]


def test_a_list_with_hanging_indents_splits_per_item_and_not_at_its_continuation_rows():
    lines = [line(0, "1. First item"), line(1, "continues here", INDENT), line(2, "and ends", INDENT, 500),
             line(3, "2. Second item"), line(4, "continues here", INDENT), line(5, "and ends", INDENT, 400),
             line(6, "• Third item"), line(7, "continues", INDENT), line(8, "and ends", INDENT, 300)]
    assert split(lines) == [["1. First item", "continues here", "and ends"],
                            ["2. Second item", "continues here", "and ends"],
                            ["• Third item", "continues", "and ends"]]


def test_a_short_row_followed_by_a_lowercase_word_does_not_split():
    lines = [line(0, "A sentence that"), line(1, "breaks early", x2=500), line(2, "and goes on"), line(3, "to the end")]
    assert split(lines) == [["A sentence that", "breaks early", "and goes on", "to the end"]]


def test_a_short_row_followed_by_a_sentence_start_splits():
    for start in ["The next one", "2024 was a year", "• a bullet", "(parenthetical)"]:
        lines = [line(0, "A sentence"), line(1, "ends here.", x2=500), line(2, start), line(3, "goes on")]
        assert split(lines) == [["A sentence", "ends here."], [start, "goes on"]], start


def test_a_row_ending_near_the_right_edge_is_not_short():
    near = RIGHT - 0.5 * RULES.short_line * BODY
    lines = [line(0, "A sentence"), line(1, "nearly full", x2=near), line(2, "The next"), line(3, "goes on")]
    assert split(lines) == [["A sentence", "nearly full", "The next", "goes on"]]


def test_a_lone_indented_last_row_does_not_split_off_by_its_indent():
    lines = [line(0, "One"), line(1, "two"), line(2, "three"), line(3, "four", INDENT)]
    assert split(lines) == [["One", "two", "three", "four"]]


def test_centred_rows_indented_beyond_max_indent_are_not_first_line_indents():
    centred = LEFT + RULES.max_indent * BODY + 40
    lines = [line(0, "A full row"), line(1, "Centred words", centred, RIGHT - (centred - LEFT)),
             line(2, "and a full row"), line(3, "another")]
    assert split(lines) == [["A full row", "Centred words", "and a full row", "another"]]
    lines[1] = line(1, "Indented words", INDENT)
    assert split(lines) == [["A full row"], ["Indented words", "and a full row", "another"]]


def test_several_lines_on_one_row_are_one_row():
    lines = [line(0, "Left half", LEFT, 480), line(0, "right half", 500, RIGHT), line(1, "and more")]
    assert split(lines) == [["Left half right half", "and more"]]


def test_rules_are_in_body_heights_so_a_larger_scan_splits_the_same():
    lines = [line(0, "First para", INDENT), line(1, "goes on", x2=500), line(2, "Second para"), line(3, "ends"),
             line(4, "Third", top=BODY), line(5, "goes on", top=BODY)]
    doubled = [TextLine(tuple(2 * v for v in l.bbox), l.text, l.score) for l in lines]
    assert split(doubled, 2 * BODY) == split(lines) == [["First para", "goes on"], ["Second para", "ends"],
                                                        ["Third", "goes on"]]


def test_no_lines_are_no_paragraphs_and_one_line_is_one():
    assert paragraphs([], BODY) == []
    assert split([line(0, "Alone", INDENT, 300)]) == [["Alone"]]


def test_body_height_is_the_median_row_height_across_regions():
    regions = [[line(0, "a"), line(1, "b")], [line(0, "Title", height=40.0)], [line(0, "c", height=22.0)]]
    assert body_height(regions) == 21.0
    assert body_height([[], []]) is None


def test_a_short_row_set_well_above_body_height_is_a_title():
    assert is_title(one_row("Introduction", 1.5 * BODY), BODY)


def test_the_same_row_at_body_height_is_not_a_title():
    assert not is_title(one_row("Introduction", BODY), BODY)


def test_a_tall_row_with_many_words_is_not_a_title():
    words = " ".join(["word"] * (RULES.title_words + 1))
    assert not is_title(one_row(words, 1.5 * BODY), BODY)
    assert is_title(one_row(" ".join(["word"] * RULES.title_words), 1.5 * BODY), BODY)


def test_two_tall_rows_are_not_a_title():
    rows = text_rows([line(0, "A tall", height=1.5 * BODY), line(2, "heading", height=1.5 * BODY)])
    assert len(rows) == 2 and not is_title(rows, BODY)


def test_a_tall_title_near_the_top_is_the_documents():
    assert is_doc_title(2 * BODY, 0.1 * PAGE_HEIGHT, PAGE_HEIGHT, BODY)


def test_a_tall_title_low_on_the_page_is_not_the_documents():
    assert not is_doc_title(2 * BODY, 0.6 * PAGE_HEIGHT, PAGE_HEIGHT, BODY)


def test_a_title_not_tall_enough_is_not_the_documents():
    assert not is_doc_title(1.4 * BODY, 0.1 * PAGE_HEIGHT, PAGE_HEIGHT, BODY)


def test_a_pdfs_indented_paragraphs_split_into_their_paragraphs():
    expected = [
        ["The first paragraph starts here", "and goes on over a second line", "and ends on its third one."],
        ["Then another paragraph begins", "and ends on its second line."],
        ["A third paragraph opens", "with more words on this line", "and closes here."],
    ]
    with open_document(paragraphs_pdf(expected), 0, InputConfig(max_pages=None).decode_limits()) as document:
        lines = document.text_layer(0).lines
    assert [l.text for l in lines] == [text for paragraph in expected for text in paragraph]
    body = body_height([lines])
    assert body is not None
    found = paragraphs(lines, body)
    assert [block_text([l for row in group for l in row.lines]) for group in found] == [
        " ".join(paragraph) for paragraph in expected
    ]
    assert not any(is_title(group, body) for group in found)


TEXT_REGION = Region("text", (90, 150, 910, 320))
TABLE_REGION = Region("table", (100, 400, 900, 700))
FIRST = [line(0, "Paragraph one starts", INDENT, top=160), line(1, "and runs on", top=160),
         line(2, "to its end.", x2=500, top=160)]
SECOND = [line(3, "Paragraph two starts", INDENT, top=160), line(4, "and ends.", x2=600, top=160)]
TABLE_LINES = [line(0, "cell", 120, 300, top=420), line(1, "cell", 120, 300, top=420)]


def page(
    title_height: float, title_top: float = 65.0
) -> tuple[list[Region], list[list[TextLine]], list[RegionReading]]:
    title = Region("paragraph_title", (100, int(title_top) - 5, 800, int(title_top + title_height) + 5))
    regions = [title, TEXT_REGION, TABLE_REGION]
    lines = [[TextLine((110, title_top, 700, title_top + title_height), "A Title", 1.0)], FIRST + SECOND, TABLE_LINES]
    readings = [RegionReading("A Title"), RegionReading("whole column"), RegionReading("<table></table>")]
    return regions, lines, readings


def test_a_text_region_holding_two_paragraphs_reads_as_two_text_parts():
    regions, lines, readings = page(2 * BODY)
    text = structured(readings, regions, lines, PAGE_SIZE)[1]
    assert text.content == "whole column"
    assert [(p.region.label, p.region.bbox, p.content) for p in text.parts] == [
        ("text", union_bbox(FIRST), "Paragraph one starts and runs on to its end."),
        ("text", union_bbox(SECOND), "Paragraph two starts and ends."),
    ]


def test_a_tall_title_near_the_top_of_the_page_becomes_the_doc_title():
    regions, lines, readings = page(2 * BODY)
    title = structured(readings, regions, lines, PAGE_SIZE)[0]
    assert [(p.region.label, p.region.bbox, p.content) for p in title.parts] == [
        ("doc_title", regions[0].bbox, "A Title")
    ]


def test_a_title_not_tall_enough_stays_a_paragraph_title_with_its_reading_unchanged():
    regions, lines, readings = page(1.4 * BODY)
    result = structured(readings, regions, lines, PAGE_SIZE)
    assert result[0] is readings[0] and result[0].parts == ()
    assert len(result[1].parts) == 2


def test_a_tall_title_low_on_the_page_stays_a_paragraph_title():
    regions, lines, readings = page(2 * BODY, title_top=0.6 * PAGE_HEIGHT)
    assert structured(readings, regions, lines, PAGE_SIZE)[0] is readings[0]


def test_a_table_region_is_left_untouched():
    regions, lines, readings = page(2 * BODY)
    assert structured(readings, regions, lines, PAGE_SIZE)[2] is readings[2]


def test_a_text_region_of_one_paragraph_is_left_as_it_is():
    regions, lines, readings = page(1.4 * BODY)
    lines[1] = FIRST
    assert structured(readings, regions, lines, PAGE_SIZE)[1] is readings[1]


def test_a_tall_lone_row_in_a_text_region_becomes_a_paragraph_title_part():
    heading = line(0, "Methods", LEFT, 300, top=120, height=1.5 * BODY)
    regions, lines, readings = page(1.4 * BODY)
    lines[1] = [heading, *FIRST]
    parts = structured(readings, regions, lines, PAGE_SIZE)[1].parts
    assert [(p.region.label, p.content) for p in parts] == [
        ("paragraph_title", "Methods"), ("text", "Paragraph one starts and runs on to its end.")
    ]


def test_a_page_without_text_regions_keeps_its_readings():
    regions, lines, readings = page(2 * BODY)
    assert structured(readings[::2], regions[::2], lines[::2], PAGE_SIZE) == readings[::2]


def test_apply_recognition_puts_a_regions_paragraphs_in_its_reading_order_slot():
    regions, lines, readings = page(2 * BODY)
    blocks = [Block(region.label, region.bbox) for region in regions]
    table = blocks[2]
    kept, absorbed = apply_recognition(
        blocks, PageRecognition(regions=structured(readings, regions, lines, PAGE_SIZE)), (PAGE_WIDTH, PAGE_HEIGHT)
    )
    assert absorbed == []
    assert [(b.label, b.bbox, b.content) for b in kept] == [
        ("doc_title", regions[0].bbox, "A Title"),
        ("text", union_bbox(FIRST), "Paragraph one starts and runs on to its end."),
        ("text", union_bbox(SECOND), "Paragraph two starts and ends."),
        ("table", TABLE_REGION.bbox, "<table></table>"),
    ]
    assert kept[3] is table


def test_list_items_with_one_full_width_continuation_row_split_per_item():
    lines = [line(0, "1. First item"), line(1, "continues", x1=140), line(2, "2. Second item"),
             line(3, "continues", x1=140), line(4, "3. Third")]
    assert split(lines) == [["1. First item", "continues"], ["2. Second item", "continues"], ["3. Third"]]


def test_two_rows_far_apart_are_two_paragraphs():
    assert split([line(0, "One"), line(5, "Two")]) == [["One"], ["Two"]]
