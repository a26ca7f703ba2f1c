from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from layout.decode import open_document
from layout.ink import InkRules, ink_mask, is_blank, unexplained_marks
from layout.text_layer import Glyph, LineRules, TextLayer, read_regions, text_layer
from layout.types import BBox
from serve.config import InputConfig
from tests.pdf_samples import (
    blank_and_text_pdf,
    landscape_pdf,
    no_unicode_pdf,
    outlined_text_pdf,
    paragraphs_pdf,
    scanned_pdf_with_invisible_layer,
    text_pdf,
)

LIMITS = InputConfig(max_pages=None).decode_limits()
LINES = ["Hello world", "Second line here"]
HEIGHT = 20.0
RULES = LineRules()
# A region around the text every sample draws near the top-left margin of a scale-2 render.
TEXT_REGION: BBox = (100.0, 100.0, 1000.0, 400.0)


def glyph(char: str, x: float, y: float = 100.0, width: float = 10.0, **trust: bool) -> Glyph:
    return Glyph(char, (x, y, x + width, y + HEIGHT), **trust)


def run(text: str, x: float = 0.0, y: float = 100.0, gap: float = 0.0) -> list[Glyph]:
    """Glyphs of `text` left to right, `gap` pixels apart, spaces as separators."""
    glyphs = []
    for char in text:
        if char == " ":
            glyphs.append(Glyph.separator(" "))
            continue
        glyphs.append(glyph(char, x, y))
        x += 10.0 + gap
    return glyphs


def texts(layer: TextLayer) -> list[str]:
    return [line.text for line in layer.lines]


def read_pdf(data: bytes, index: int = 0) -> tuple[TextLayer, np.ndarray]:
    with open_document(data, 0, LIMITS) as document:
        return document.text_layer(index), document.page(index)


def covered_share(ink: np.ndarray, boxes: Sequence[BBox]) -> float:
    inside = np.zeros_like(ink)
    for x1, y1, x2, y2 in boxes:
        inside[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))] = True
    return float(np.count_nonzero(ink & inside)) / float(np.count_nonzero(ink))


def white(height: int = 400, width: int = 300) -> np.ndarray:
    return np.full((height, width, 3), 255, dtype=np.uint8)


def mask_with(*rectangles: BBox, shape: tuple[int, int] = (400, 600)) -> np.ndarray:
    ink = np.zeros(shape, dtype=bool)
    for x1, y1, x2, y2 in rectangles:
        ink[int(y1):int(y2), int(x1):int(x2)] = True
    return ink


def letters(count: int, x: float = 50.0, y: float = 50.0) -> list[BBox]:
    return [(x + 30 * i, y, x + 30 * i + 16, y + 24) for i in range(count)]


# Grouping glyphs into lines


def test_glyphs_on_one_baseline_make_one_line_with_their_text_and_union_box():
    layer = text_layer(run("abc"))
    assert texts(layer) == ["abc"]
    assert layer.lines[0].bbox == (0.0, 100.0, 30.0, 120.0)
    assert layer.lines[0].score == 1.0 and layer.doubtful == ()


@pytest.mark.parametrize("newline", ["\n", "\r", "\r\n"])
def test_a_line_break_separator_ends_the_line_even_on_the_same_baseline(newline: str):
    glyphs = [*run("ab"), *(Glyph.separator(c) for c in newline), *run("cd", x=20.0)]
    assert texts(text_layer(glyphs)) == ["ab", "cd"]


def test_a_space_separator_inserts_exactly_one_space():
    glyphs = [*run("ab"), Glyph.separator(" "), Glyph.separator(" "), *run("cd", x=20.0 + RULES.word_gap * HEIGHT * 2)]
    assert texts(text_layer(glyphs)) == ["ab cd"]
    assert texts(text_layer(run("ab cd"))) == ["ab cd"]


def test_a_gap_wider_than_the_word_gap_is_a_space_and_a_narrower_one_is_not():
    assert texts(text_layer(run("abc", gap=RULES.word_gap * HEIGHT * 1.5))) == ["a b c"]
    assert texts(text_layer(run("abc", gap=RULES.word_gap * HEIGHT * 0.5))) == ["abc"]


def test_a_gap_wider_than_the_max_gap_splits_one_baseline_into_two_lines():
    right = 20.0 + RULES.max_gap * HEIGHT * 1.5
    layer = text_layer([*run("le"), *run("ri", x=right)])
    assert texts(layer) == ["le", "ri"]
    assert layer.lines[0].bbox[2] == 20.0 and layer.lines[1].bbox[0] == right


def test_a_vertical_jump_over_half_a_line_height_starts_a_new_line_and_a_smaller_one_does_not():
    jump = RULES.same_line_offset * HEIGHT
    assert texts(text_layer([glyph("a", 0), glyph("b", 10, y=100 + jump * 1.2)])) == ["a", "b"]
    assert texts(text_layer([glyph("a", 0), glyph("b", 10, y=100 + jump * 0.8)])) == ["ab"]


@pytest.mark.parametrize("trust", [{"readable": False}, {"visible": False}, {"upright": False}])
def test_an_untrusted_glyph_stays_out_of_the_text_and_is_reported_doubtful(trust: dict[str, bool]):
    bad = glyph("X", 20, **trust)
    layer = text_layer([*run("ab"), bad, *run("cd", x=30.0)])
    assert "".join(texts(layer)) == "abcd"
    assert layer.doubtful == (bad.bbox,)
    assert not layer.empty


def test_a_layer_of_untrusted_glyphs_only_has_no_lines_but_is_not_empty():
    layer = text_layer([glyph("a", 0, readable=False), glyph("b", 10, visible=False)])
    assert layer.lines == () and len(layer.doubtful) == 2 and not layer.empty


def test_no_glyphs_or_separators_only_make_an_empty_layer():
    assert text_layer([]).empty
    assert text_layer([Glyph.separator(" "), Glyph.separator("\n")]).empty


def test_right_to_left_glyphs_keep_their_logical_order_on_one_line():
    hebrew = "שלום"
    glyphs = [glyph(char, 100.0 - 12 * i) for i, char in enumerate(hebrew)]
    layer = text_layer(glyphs)
    assert texts(layer) == [hebrew]
    assert layer.lines[0].bbox == (64.0, 100.0, 110.0, 120.0)


def test_right_to_left_words_are_split_by_their_gap_in_logical_order():
    glyphs = [glyph("א", 100.0), glyph("ב", 90.0), glyph("ג", 70.0), glyph("ד", 60.0)]
    assert texts(text_layer(glyphs)) == ["אב גד"]


# Layers of real PDFs


def test_text_pdf_lines_come_back_in_order_with_boxes_over_their_ink():
    layer, page = read_pdf(text_pdf(LINES))
    ink = ink_mask(page)
    assert texts(layer) == LINES and layer.doubtful == ()
    assert covered_share(ink, [line.bbox for line in layer.lines]) > 0.9
    for line in layer.lines:
        assert covered_share(ink, [line.bbox]) > 0.3
    assert layer.lines[0].bbox[3] <= layer.lines[1].bbox[1]


def test_paragraph_lines_each_become_one_layer_line():
    paragraphs = [["First paragraph line one", "and its second line"], ["Another one here"]]
    layer, page = read_pdf(paragraphs_pdf(paragraphs))
    assert texts(layer) == [line for paragraph in paragraphs for line in paragraph]
    assert covered_share(ink_mask(page), [line.bbox for line in layer.lines]) > 0.9


def test_a_landscape_page_with_upright_text_gives_its_lines_over_the_rendered_ink():
    layer, page = read_pdf(landscape_pdf(LINES))
    assert page.shape[1] > page.shape[0]
    assert texts(layer) == LINES and layer.doubtful == ()
    assert covered_share(ink_mask(page), [line.bbox for line in layer.lines]) > 0.9


def test_text_turned_by_the_page_rotation_is_doubtful_where_it_is_drawn():
    layer, page = read_pdf(text_pdf(LINES, rotate=90))
    ink = ink_mask(page)
    assert page.shape[1] > page.shape[0]
    assert layer.lines == ()
    assert len(layer.doubtful) == sum(len(line.replace(" ", "")) for line in LINES)
    assert covered_share(ink, layer.doubtful) > 0.9
    assert read_regions(layer, [(0, 0, page.shape[1], page.shape[0])], ink).regions == (None,)


def test_upside_down_text_of_a_half_turned_page_still_reads_as_its_lines():
    layer, page = read_pdf(text_pdf(LINES, rotate=180))
    assert sorted(texts(layer)) == sorted(LINES)
    assert covered_share(ink_mask(page), [line.bbox for line in layer.lines]) > 0.9


def test_a_font_without_unicode_gives_no_lines_and_every_glyph_doubtful():
    layer, page = read_pdf(no_unicode_pdf(["Hello world"]))
    assert layer.lines == ()
    assert len(layer.doubtful) == len("Hello world")
    assert covered_share(ink_mask(page), layer.doubtful) > 0.9


def test_invisible_text_over_a_scan_gives_no_lines_and_is_doubtful():
    layer, _ = read_pdf(scanned_pdf_with_invisible_layer(["Hello world"], ["Hello world"]))
    assert layer.lines == ()
    assert len(layer.doubtful) == len("Helloworld")


def test_text_drawn_as_outlines_leaves_the_layer_empty():
    layer, page = read_pdf(outlined_text_pdf(["Hello world"]))
    assert layer.empty
    assert np.count_nonzero(ink_mask(page)) > 0


# Which regions the layer answers


def test_a_region_over_text_pdf_text_gets_its_layer_lines():
    layer, page = read_pdf(text_pdf(LINES))
    reading = read_regions(layer, [TEXT_REGION], ink_mask(page))
    regions = reading.regions
    assert regions[0] is not None and [line.text for line in regions[0]] == LINES
    assert reading.stray == ()


def test_a_region_nested_in_another_leaves_the_outer_one_explained_by_its_lines():
    layer, page = read_pdf(text_pdf(LINES))
    [first, second] = layer.lines
    inner = (second.bbox[0] - 10, second.bbox[1] - 10, second.bbox[2] + 10, second.bbox[3] + 10)
    regions = read_regions(layer, [TEXT_REGION, inner], ink_mask(page)).regions
    assert regions[0] is not None and [line.text for line in regions[0]] == [first.text]
    assert regions[1] is not None and [line.text for line in regions[1]] == [second.text]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(outlined_text_pdf(LINES), id="outlined"),
        pytest.param(no_unicode_pdf(LINES), id="no-unicode"),
        pytest.param(scanned_pdf_with_invisible_layer(LINES, LINES), id="invisible-layer"),
    ],
)
def test_a_region_over_text_the_layer_cannot_vouch_for_goes_to_the_engine(data: bytes):
    layer, page = read_pdf(data)
    assert read_regions(layer, [TEXT_REGION], ink_mask(page)).regions == (None,)


def test_without_an_ink_mask_every_region_gets_the_layer_lines_whatever_they_are():
    layer, page = read_pdf(text_pdf(LINES))
    ink = ink_mask(page)
    blank_region: BBox = (100.0, 600.0, 1000.0, 1000.0)
    for x1, y1, x2, y2 in letters(6, x=200, y=700):
        ink[int(y1):int(y2), int(x1):int(x2)] = True
    regions = [TEXT_REGION, blank_region]
    assert read_regions(layer, regions, ink).regions[1] is None
    only = read_regions(layer, regions, None).regions
    assert only[0] is not None and [line.text for line in only[0]] == LINES
    assert only[1] == ()
    doubtful, _ = read_pdf(no_unicode_pdf(LINES))
    assert read_regions(doubtful, [TEXT_REGION], None).regions == ((),)


def test_a_region_without_ink_or_lines_is_answered_with_no_lines():
    layer, page = read_pdf(text_pdf(LINES))
    assert read_regions(layer, [(100.0, 600.0, 1000.0, 1000.0)], ink_mask(page)).regions == ((),)


def test_lines_outside_every_region_come_back_stray():
    layer, page = read_pdf(text_pdf(LINES))
    first_only: BBox = (100.0, 100.0, 1000.0, 192.0)
    reading = read_regions(layer, [first_only], ink_mask(page))
    assert reading.regions[0] is not None and [line.text for line in reading.regions[0]] == LINES[:1]
    assert [line.text for line in reading.stray] == LINES[1:]
    assert [line.text for line in read_regions(layer, [], None).stray] == LINES
    assert reading.stray_complete


@pytest.mark.parametrize(
    "data", [text_pdf(LINES, rotate=90), outlined_text_pdf(LINES), no_unicode_pdf(LINES)],
    ids=["turned", "outlines", "no-unicode"],
)
def test_text_outside_every_region_that_the_layer_does_not_hold_leaves_its_stray_lines_incomplete(data: bytes):
    layer, page = read_pdf(data)
    assert not read_regions(layer, [], ink_mask(page)).stray_complete


# Blank pages


def test_a_white_page_is_blank():
    assert is_blank(white())


def test_a_few_isolated_specks_leave_a_page_blank_and_more_do_not():
    rules = InkRules()
    page = white()
    for i in range(rules.blank_max_pixels - 1):
        page[10 + 20 * i, 20 + 14 * i, :] = 0
    assert is_blank(page)
    for i in range(rules.blank_max_pixels + 4):
        page[2 * i, 200, :] = 0
    assert not is_blank(page)


def test_a_rendered_text_page_is_not_blank():
    _, page = read_pdf(text_pdf(["Hello"]))
    assert not is_blank(page)


def test_the_blank_page_of_a_mixed_document_is_blank_and_its_text_page_is_not():
    data = blank_and_text_pdf([None, ["Hello"]])
    blank_layer, blank_page = read_pdf(data, 0)
    text_page_layer, text_page = read_pdf(data, 1)
    assert blank_layer.empty and is_blank(blank_page)
    assert texts(text_page_layer) == ["Hello"] and not is_blank(text_page)


# Ink the layer does not explain


def test_marks_inside_the_covering_line_boxes_are_explained():
    marks = letters(5)
    ink = mask_with(*marks)
    line: BBox = (marks[0][0], marks[0][1], marks[-1][2], marks[-1][3])
    assert unexplained_marks(ink, (0, 0, 600, 400), [line]) == 0


def test_marks_partly_past_a_line_box_within_its_padding_are_explained():
    ink = mask_with(*letters(3))
    line: BBox = (52.0, 52.0, 122.0, 72.0)
    assert unexplained_marks(ink, (0, 0, 600, 400), [line]) == 0


def test_a_long_thin_rule_and_specks_are_not_glyph_like():
    ink = mask_with((20, 100, 580, 103), (20, 200, 580, 210), (300, 300, 302, 302))
    assert unexplained_marks(ink, (0, 0, 600, 400), []) == 0


def test_letter_sized_blobs_count_one_mark_each():
    ink = mask_with(*letters(5), (20, 200, 580, 203))
    assert unexplained_marks(ink, (0, 0, 600, 400), []) == 5


def test_only_marks_inside_the_region_count():
    ink = mask_with(*letters(5))
    assert unexplained_marks(ink, (0, 0, 110, 400), []) == 2
    assert unexplained_marks(ink, (300, 300, 600, 400), []) == 0
