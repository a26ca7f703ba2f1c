"""How regions are read from their lines and split into blocks (serve/backends/line_structure.py)."""

from __future__ import annotations

import pydantic
import pytest

from layout.geometry import union_box
from layout.ocr_assign import block_text, union_bbox
from layout.picture_text import covered_share
from layout.table_grid import TableRules
from layout.types import TextLine
from serve.backends.base import FoundRegion, Region, RegionReading
from serve.backends.line_structure import PageLines, StructureRules, as_read, structured
from serve.backends.rapid_ocr import RapidOcrOptions

BODY = 24.0
PITCH = 32.0
CHAR = 12.0
PAGE_WIDTH = 1000
PAGE_HEIGHT = 1400
PAGE_SIZE = (PAGE_WIDTH, PAGE_HEIGHT)
TABLES = TableRules()

STATEMENT = [
    ("Revenue", "12,480", "11,960"),
    ("Cost of sales", "(7,310)", "(7,020)"),
    ("Gross profit", "5,170", "4,940"),
    ("Operating expenses", "(3,260)", "(3,105)"),
    ("Operating profit", "1,910", "1,835"),
    ("Profit for the year", "1,670", "1,580"),
]

LEFT_COLUMN = (100.0, 480.0)
RIGHT_COLUMN = (520.0, 900.0)
FIRST_PARAGRAPH = [
    "The harbour board met on Tuesday to discuss",
    "the new tariffs that shipping lines have asked",
    "for since the spring, and the members agreed.",
]
SECOND_PARAGRAPH = [
    "Fishermen on the north quay said the catch",
    "had been better than in any year they could",
    "remember, though prices at the market fell.",
]
THIRD_PARAGRAPH = [
    "The lighthouse keeper retired this week after",
    "forty years on the rock, during which time he",
    "kept the lamp burning through every storm and",
    "logged more than two thousand ships passing by",
    "on their way to the river mouth and the docks.",
]


def line(x1: float, x2: float, top: float, text: str, height: float = BODY) -> TextLine:
    return TextLine((x1, top, x2, top + height), text, 1.0)


def statement(top: float = 300.0) -> list[TextLine]:
    lines = []
    for i, (label, this_year, last_year) in enumerate(STATEMENT):
        y = top + i * PITCH
        lines += [line(100.0, 100.0 + CHAR * len(label), y, label),
                  line(600.0 - CHAR * len(this_year), 600.0, y, this_year),
                  line(800.0 - CHAR * len(last_year), 800.0, y, last_year)]
    return lines


def paragraph(texts: list[str], column: tuple[float, float], top: float) -> list[TextLine]:
    return [line(*column, top + i * PITCH, text) for i, text in enumerate(texts)]


TOP = 300.0
FIRST = paragraph(FIRST_PARAGRAPH, LEFT_COLUMN, TOP)
SECOND = paragraph(SECOND_PARAGRAPH, LEFT_COLUMN, TOP + 3 * PITCH + BODY)
THIRD = paragraph(THIRD_PARAGRAPH, RIGHT_COLUMN, TOP)
PROSE = sorted([*FIRST, *SECOND, *THIRD], key=lambda found: (found.bbox[1], found.bbox[0]))


def test_a_text_region_over_a_grid_is_read_as_a_table():
    lines = statement()
    box = union_bbox(lines)
    page = as_read([Region("text", box)], [lines], [])
    assert page == PageLines([Region("table", box)], [lines], [])


def test_a_reference_region_over_a_grid_is_read_as_a_table():
    lines = statement()
    page = as_read([Region("reference", union_bbox(lines))], [lines], [])
    assert [region.label for region in page.regions] == ["table"]


def test_a_table_region_over_prose_columns_is_read_as_text():
    box = union_bbox(PROSE)
    page = as_read([Region("table", box)], [PROSE], [])
    assert page == PageLines([Region("text", box)], [PROSE], [])


def test_a_text_region_over_prose_stays_text():
    box = union_bbox(PROSE)
    page = as_read([Region("text", box)], [PROSE], [])
    assert page.regions == [Region("text", box)]


def test_an_image_region_over_a_grid_covering_little_of_it_stays_an_image():
    lines = statement()
    box = (50, 100, 950, 1300)
    assert covered_share(box, lines) < TABLES.min_picture_coverage
    page = as_read([Region("image", box)], [lines], [])
    assert page.regions == [Region("image", box)]


def test_an_image_region_over_a_grid_covering_enough_of_it_is_read_as_a_table():
    lines = statement()
    box = union_bbox(lines)
    assert covered_share(box, lines) >= TABLES.min_picture_coverage
    page = as_read([Region("image", box)], [lines], [])
    assert page.regions == [Region("table", box)]


def test_an_image_region_over_a_grid_is_a_table_from_the_configured_coverage():
    lines = statement()
    box = (50, 100, 950, 1300)
    rules = StructureRules(tables=TableRules(min_picture_coverage=covered_share(box, lines)))
    assert as_read([Region("image", box)], [lines], [], rules).regions == [Region("table", box)]


def test_an_empty_text_region_stays_text():
    page = as_read([Region("text", (100, 100, 500, 200))], [[]], [])
    assert page.regions == [Region("text", (100, 100, 500, 200))]


YEAR_TOP = 300.0 - 8.0 - BODY
THIS_YEAR = line(552.0, 600.0, YEAR_TOP, "2023")
LAST_YEAR = line(752.0, 800.0, YEAR_TOP, "2022")
GROUP = line(520.0, 800.0, YEAR_TOP - 8.0 - BODY, "Year ended 31 December")
INTRO = line(100.0, 800.0, 120.0, "The results of the board for the year are set out below.")
FOOTNOTE = line(100.0, 500.0, 560.0, "Figures in thousands of pounds")


def test_a_table_takes_the_header_rows_directly_above_it_from_the_stray_lines():
    lines = statement()
    box = union_bbox(lines)
    polygon = ((100, 300), (800, 300), (800, box[3]), (100, box[3]))
    page = as_read([Region("table", box, polygon)], [lines], [INTRO, GROUP, THIS_YEAR, LAST_YEAR, FOOTNOTE])
    header = [THIS_YEAR, LAST_YEAR, GROUP]
    assert page == PageLines(
        [Region("table", union_box(box, union_bbox(header)))], [header + lines], [INTRO, FOOTNOTE]
    )


def test_a_text_region_found_to_be_a_table_takes_its_header_rows_too():
    lines = statement()
    box = union_bbox(lines)
    page = as_read([Region("text", box)], [lines], [THIS_YEAR, LAST_YEAR])
    assert page == PageLines([Region("table", union_box(box, union_bbox([THIS_YEAR, LAST_YEAR])))],
                             [[THIS_YEAR, LAST_YEAR, *lines]], [])


def test_a_text_region_does_not_take_the_lines_above_it():
    box = union_bbox(PROSE)
    above = [line(100.0, 300.0, TOP - 8.0 - BODY, "Harbour news"), line(520.0, 700.0, TOP - 8.0 - BODY, "Page two")]
    page = as_read([Region("text", box)], [PROSE], above)
    assert page == PageLines([Region("text", box)], [PROSE], above)


def test_a_refused_table_is_split_into_its_paragraphs_column_by_column():
    laid_out = [Region("table", union_bbox(PROSE))]
    page = as_read(laid_out, [PROSE], [])
    assert [region.label for region in page.regions] == ["text"]
    reading = RegionReading(block_text(PROSE))
    [result] = structured([reading], page.regions, page.lines, PAGE_SIZE, laid_out=laid_out)
    assert result.parts == tuple(
        FoundRegion(Region("text", union_bbox(lines)), block_text(lines)) for lines in (FIRST, SECOND, THIRD)
    )
    assert result.content == reading.content


def test_a_text_region_laid_out_as_text_over_the_same_columns_is_not_split_by_column():
    reading = RegionReading(block_text(PROSE))
    regions = [Region("text", union_bbox(PROSE))]
    assert structured([reading], regions, [PROSE], PAGE_SIZE, laid_out=regions)[0] is reading


def test_a_region_read_as_a_table_from_a_laid_out_text_region_comes_back_as_one_table_part():
    lines = statement()
    laid_out = [Region("text", union_bbox(lines))]
    page = as_read(laid_out, [lines], [])
    reading = RegionReading("<table><tr><td>Revenue</td></tr></table>")
    [result] = structured([reading], page.regions, page.lines, PAGE_SIZE, laid_out=laid_out)
    assert result.parts == (FoundRegion(Region("table", union_bbox(lines)), reading.content),)
    assert result.content == reading.content


def test_a_table_read_as_laid_out_is_left_alone():
    lines = statement()
    regions = [Region("table", union_bbox(lines))]
    reading = RegionReading("<table></table>")
    assert structured([reading], regions, [lines], PAGE_SIZE, laid_out=regions)[0] is reading


HEADER_LINE = line(100.0, 600.0, 40.0, "Harbour Board Annual Report 2023")
NUMBER_LINE = line(490.0, 514.0, 1340.0, "12")
FOOTER_LINE = line(100.0, 600.0, 1340.0, "Printed by the Harbour Board Press")
MIDDLE_LINE = line(100.0, 600.0, 700.0, "A single line of text set on its own.")
BODY_FIRST = paragraph(FIRST_PARAGRAPH + SECOND_PARAGRAPH, (100.0, 900.0), 200.0)
BODY_SECOND = paragraph(THIRD_PARAGRAPH, (100.0, 900.0), 900.0)


def furniture_page(*one_row: TextLine) -> tuple[list[RegionReading], list[RegionReading]]:
    """Readings of the one-row regions and the body regions of a page, and what `structured` makes of them."""
    lines = [[found] for found in one_row] + [BODY_FIRST, BODY_SECOND]
    regions = [Region("text", union_bbox(found)) for found in lines]
    readings = [RegionReading(block_text(found)) for found in lines]
    return readings, structured(readings, regions, lines, PAGE_SIZE)


def test_a_one_row_text_region_in_the_top_margin_is_a_header():
    assert HEADER_LINE.bbox[3] <= 0.07 * PAGE_HEIGHT
    readings, result = furniture_page(HEADER_LINE)
    assert result[0].parts == (FoundRegion(Region("header", union_bbox([HEADER_LINE])), HEADER_LINE.text),)
    assert result[1] is readings[1] and result[2] is readings[2]


def test_a_lone_number_at_the_bottom_is_a_page_number():
    readings, result = furniture_page(NUMBER_LINE)
    assert result[0].parts == (FoundRegion(Region("number", union_bbox([NUMBER_LINE])), "12"),)


def test_a_one_row_text_region_in_the_bottom_margin_is_a_footer():
    assert FOOTER_LINE.bbox[1] >= 0.93 * PAGE_HEIGHT
    readings, result = furniture_page(FOOTER_LINE)
    assert result[0].parts == (FoundRegion(Region("footer", union_bbox([FOOTER_LINE])), FOOTER_LINE.text),)


def test_a_one_row_text_region_mid_page_is_left_alone():
    readings, result = furniture_page(MIDDLE_LINE)
    assert result[0] is readings[0]


def test_a_one_row_text_region_in_the_top_margin_set_larger_than_the_body_is_a_title_not_a_header():
    title = line(100.0, 700.0, 40.0, "Harbour Board Annual Report", height=2 * BODY)
    assert title.bbox[3] <= 0.07 * PAGE_HEIGHT
    readings, result = furniture_page(title)
    assert result[0].parts == (FoundRegion(Region("doc_title", union_bbox([title])), title.text),)


def test_a_text_region_of_two_rows_in_the_top_margin_is_not_furniture():
    second = line(100.0, 600.0, 40.0 + PITCH, "Volume two of the minutes")
    lines = [[HEADER_LINE, second], BODY_FIRST, BODY_SECOND]
    regions = [Region("text", union_bbox(found)) for found in lines]
    readings = [RegionReading(block_text(found)) for found in lines]
    assert structured(readings, regions, lines, PAGE_SIZE)[0] is readings[0]


def test_rapid_ocr_options_take_table_thresholds_from_a_nested_dict():
    options = RapidOcrOptions(structure={"tables": {"min_rows": 4}})
    assert options.structure.tables == TableRules(min_rows=4)


def test_rapid_ocr_options_reject_an_unknown_table_threshold():
    with pytest.raises(pydantic.ValidationError):
        RapidOcrOptions(structure={"tables": {"min_rowz": 4}})


def test_rapid_ocr_options_reject_an_unknown_spacing_rule():
    with pytest.raises(pydantic.ValidationError):
        RapidOcrOptions(spacing={"max_word_letterz": 4})


def test_rapid_ocr_options_take_spacing_rules_from_a_dict_and_none_turns_spacing_off():
    assert RapidOcrOptions(spacing={"max_word_letters": 15}).spacing.max_word_letters == 15
    assert RapidOcrOptions(spacing=None).spacing is None
