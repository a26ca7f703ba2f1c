from __future__ import annotations

import pytest

from layout.furniture import FurnitureRules, stray_label
from layout.types import TextLine
from serve.backends.line_structure import found_regions

PAGE_WIDTH = 1000
PAGE_HEIGHT = 1000
PAGE_SIZE = (PAGE_WIDTH, PAGE_HEIGHT)
RULES = FurnitureRules()
HEIGHT = 20.0

IN_BOTTOM_MARGIN = (1 - RULES.margin_share) * PAGE_HEIGHT + 10
BETWEEN_MARGIN_AND_NUMBER_SHARE = (1 - (RULES.margin_share + RULES.number_share) / 2) * PAGE_HEIGHT
IN_TOP_MARGIN = RULES.margin_share * PAGE_HEIGHT - HEIGHT - 10
MID_PAGE = PAGE_HEIGHT / 2
CENTRED = (PAGE_WIDTH / 2 - 30, PAGE_WIDTH / 2 + 30)
NEAR_RIGHT_EDGE = (PAGE_WIDTH - 90, PAGE_WIDTH - 30)

PAGE_NUMBERS = ["12", "- 3 -", "iv", "Page 7", "Page 7 of 20"]


def at(top: float, x: tuple[float, float] = CENTRED) -> tuple[float, float, float, float]:
    return (x[0], top, x[1], top + HEIGHT)


@pytest.mark.parametrize("text", PAGE_NUMBERS)
def test_a_lone_page_number_in_the_bottom_margin_is_a_number(text: str):
    assert stray_label(at(IN_BOTTOM_MARGIN), text, PAGE_SIZE) == "number"


@pytest.mark.parametrize("text", PAGE_NUMBERS)
def test_a_page_number_further_in_than_the_margin_but_within_the_number_share_is_a_number(text: str):
    bbox = at(BETWEEN_MARGIN_AND_NUMBER_SHARE)
    assert bbox[1] < (1 - RULES.margin_share) * PAGE_HEIGHT
    assert stray_label(bbox, text, PAGE_SIZE) == "number"


@pytest.mark.parametrize("text", PAGE_NUMBERS)
def test_a_page_number_at_the_top_is_a_number(text: str):
    assert stray_label(at(IN_TOP_MARGIN), text, PAGE_SIZE) == "number"


@pytest.mark.parametrize("text", PAGE_NUMBERS)
def test_a_page_number_near_a_side_edge_is_a_number(text: str):
    assert stray_label(at(MID_PAGE, NEAR_RIGHT_EDGE), text, PAGE_SIZE) == "number"
    assert stray_label(at(MID_PAGE, (30, 90)), text, PAGE_SIZE) == "number"


def test_a_text_line_in_the_top_margin_is_a_header():
    assert stray_label(at(IN_TOP_MARGIN, (100, 600)), "Annual Report of the Harbour Board", PAGE_SIZE) == "header"


def test_a_text_line_in_the_bottom_margin_is_a_footer():
    assert stray_label(at(IN_BOTTOM_MARGIN, (100, 600)), "Printed by the Harbour Board Press", PAGE_SIZE) == "footer"


def test_a_text_line_mid_page_is_text():
    assert stray_label(at(MID_PAGE, (100, 600)), "Annual Report of the Harbour Board", PAGE_SIZE) == "text"


def test_a_text_line_only_partly_in_a_margin_is_text():
    straddling_top = RULES.margin_share * PAGE_HEIGHT - HEIGHT / 2
    assert stray_label(at(straddling_top, (100, 600)), "Annual Report of the Harbour Board", PAGE_SIZE) == "text"


@pytest.mark.parametrize("text", PAGE_NUMBERS)
def test_a_number_mid_page_is_text(text: str):
    assert stray_label(at(MID_PAGE), text, PAGE_SIZE) == "text"


@pytest.mark.parametrize("word", ["Mild", "did", "Civic", "DC", "I"])
def test_a_word_of_roman_numeral_letters_in_the_bottom_margin_is_a_footer_not_a_page_number(word: str):
    assert stray_label(at(IN_BOTTOM_MARGIN), word, PAGE_SIZE) == "footer"


def test_the_margins_are_shares_of_the_page_height():
    below_the_margin = at(RULES.margin_share * PAGE_HEIGHT + 10, (100, 600))
    assert stray_label(below_the_margin, "Annual Report", PAGE_SIZE) == "text"
    assert stray_label(below_the_margin, "Annual Report", (PAGE_WIDTH, 2 * PAGE_HEIGHT)) == "header"


def test_stray_lines_become_regions_labelled_as_the_furniture_they_are():
    stray = [
        TextLine(at(IN_TOP_MARGIN, (100, 600)), "Annual Report of the Harbour Board", 1.0),
        TextLine(at(MID_PAGE, (100, 600)), "A line no region holds", 1.0),
        TextLine(at(IN_BOTTOM_MARGIN, (100, 600)), "Printed by the Harbour Board Press", 1.0),
        TextLine(at(BETWEEN_MARGIN_AND_NUMBER_SHARE), "- 3 -", 1.0),
    ]
    assert [(found.region.label, found.region.bbox, found.content) for found in found_regions(stray, PAGE_SIZE)] == [
        ("header", (100, int(IN_TOP_MARGIN), 600, round(IN_TOP_MARGIN + HEIGHT)), "Annual Report of the Harbour Board"),
        ("text", (100, int(MID_PAGE), 600, round(MID_PAGE + HEIGHT)), "A line no region holds"),
        ("number", (int(CENTRED[0]), int(BETWEEN_MARGIN_AND_NUMBER_SHARE), round(CENTRED[1]),
                    round(BETWEEN_MARGIN_AND_NUMBER_SHARE + HEIGHT)), "- 3 -"),
        ("footer", (100, int(IN_BOTTOM_MARGIN), 600, round(IN_BOTTOM_MARGIN + HEIGHT)),
         "Printed by the Harbour Board Press"),
    ]
