from __future__ import annotations

from layout.ocr_assign import block_text, union_bbox
from layout.picture_text import PictureTextRules, keeps_its_text, reads_as_text
from layout.types import TextLine
from serve.backends.base import Region, RegionReading
from serve.backends.line_structure import structured

BODY = 20.0
PITCH = 28.0
PAGE_WIDTH = 1000
PAGE_HEIGHT = 1000
PAGE_SIZE = (PAGE_WIDTH, PAGE_HEIGHT)
RULES = PictureTextRules()

LETTER_BOX = (100, 100, 900, 340)
LETTER_TEXT = [
    "Dear Margaret, thank you for your letter",
    "and the photographs of the garden in spring,",
    "which arrived here on a rainy Tuesday morning",
    "and cheered the whole household at breakfast.",
    "We hope to visit you all before the summer",
    "ends, if the trains are running on time again",
    "and the weather holds for the long journey.",
    "With love from all of us, as ever, Anne",
]

CHART_BOX = (100, 100, 350, 300)


def line(index: int, text: str, x1: float = 120.0, x2: float = 880.0, *, top: float = 110.0,
         height: float = BODY) -> TextLine:
    y = top + index * PITCH
    return TextLine((x1, y, x2, y + height), text, 1.0)


def letter() -> list[TextLine]:
    return [line(i, text) for i, text in enumerate(LETTER_TEXT)]


def chart_labels() -> list[TextLine]:
    ticks = [TextLine((105.0, y, 145.0, y + BODY), text, 1.0)
             for y, text in zip([110.0, 150.0, 190.0, 230.0], ["40", "30", "20", "10"])]
    categories = [TextLine((x, 270.0, x + 40.0, 290.0), text, 1.0)
                  for x, text in zip([160.0, 210.0, 260.0, 305.0], ["Q1", "Q2", "Q3", "Q4"])]
    legend = [TextLine((160.0, 110.0, 280.0, 130.0), "Revenue", 1.0),
              TextLine((160.0, 150.0, 260.0, 170.0), "Costs", 1.0)]
    return ticks + categories + legend


def worded(lines: list[TextLine]) -> list[TextLine]:
    return [TextLine(l.bbox, "several words here", l.score) for l in lines]


def test_a_box_filled_with_long_word_bearing_lines_reads_as_text():
    assert reads_as_text(LETTER_BOX, letter(), BODY)


def test_two_lines_are_labels_on_a_picture_not_a_text():
    assert not reads_as_text(LETTER_BOX, letter()[:2], BODY)
    no_coverage_rule = PictureTextRules(min_coverage=0.0)
    assert not reads_as_text(LETTER_BOX, letter()[:2], BODY, no_coverage_rule)
    assert reads_as_text(LETTER_BOX, letter()[:3], BODY, no_coverage_rule)


def test_chart_labels_of_single_words_and_numbers_do_not_read_as_text():
    assert not reads_as_text(CHART_BOX, chart_labels(), BODY)
    assert reads_as_text(CHART_BOX, worded(chart_labels()), BODY)


def test_a_caption_covering_a_small_share_of_a_photo_does_not_read_as_text():
    photo = (100, 100, 900, 900)
    caption = [line(i, text, 200, 800, top=820) for i, text in
               enumerate(["Figure 3. The harbour at dawn,", "seen from the old lighthouse", "on the northern cliffs."])]
    assert not reads_as_text(photo, caption, BODY)
    assert reads_as_text(union_bbox(caption), caption, BODY)


def test_lines_far_taller_than_the_body_text_do_not_read_as_text():
    small_body = BODY / (RULES.max_line_height + 1)
    assert not reads_as_text(LETTER_BOX, letter(), small_body)
    assert reads_as_text(LETTER_BOX, letter(), BODY / (RULES.max_line_height - 1))


def test_without_a_body_height_line_height_is_not_checked():
    tall = [line(i, text, top=110, height=PITCH - 2) for i, text in enumerate(LETTER_TEXT)]
    assert reads_as_text(LETTER_BOX, tall, None)
    assert not reads_as_text(LETTER_BOX, tall, 1.0)


def test_an_empty_box_never_reads_as_text():
    assert not reads_as_text((500, 500, 500, 600), letter(), BODY)


def test_a_picture_covering_most_of_the_page_keeps_its_text():
    assert keeps_its_text((50, 50, 950, 950), PAGE_SIZE)


def test_a_small_picture_does_not_keep_its_text():
    assert not keeps_its_text((100, 100, 400, 300), PAGE_SIZE)


def test_a_picture_keeps_its_text_from_the_page_share_up():
    half = (0, 0, PAGE_WIDTH, int(RULES.text_page_share * PAGE_HEIGHT))
    assert keeps_its_text(half, PAGE_SIZE)
    assert not keeps_its_text((0, 0, PAGE_WIDTH, half[3] - 1), PAGE_SIZE)


BODY_REGION = Region("text", (100, 800, 900, 860))
BODY_LINES = [line(0, "Printed body text under the letter,", top=810), line(1, "set at the usual height.", top=810)]

TITLE = TextLine((120.0, 100.0, 400.0, 100.0 + 1.4 * BODY), "A Letter Home", 1.0)
FIRST = [line(0, "Dear Margaret, thank you for your letter", top=150),
         line(1, "and the photographs of the garden in spring,", top=150),
         line(2, "which arrived on a rainy Tuesday.", x2=600, top=150)]
SECOND = [line(3, "We hope to visit you all before the summer", 160, top=150),
          line(4, "ends, if the trains are running on time", top=150),
          line(5, "and the weather holds for the journey.", x2=650, top=150)]
LETTER_IMAGE = Region("image", (100, 90, 900, 330))


def test_an_image_whose_lines_read_as_text_becomes_its_title_and_paragraphs():
    regions = [LETTER_IMAGE, BODY_REGION]
    readings = [RegionReading(""), RegionReading("body text")]
    result = structured(readings, regions, [[TITLE, *FIRST, *SECOND], BODY_LINES], PAGE_SIZE)
    assert [(p.region.label, p.region.bbox, p.content) for p in result[0].parts] == [
        ("paragraph_title", union_bbox([TITLE]), "A Letter Home"),
        ("text", union_bbox(FIRST),
         "Dear Margaret, thank you for your letter and the photographs of the garden in spring, "
         "which arrived on a rainy Tuesday."),
        ("text", union_bbox(SECOND),
         "We hope to visit you all before the summer ends, if the trains are running on time "
         "and the weather holds for the journey."),
    ]
    assert result[0].content == ""


def test_an_image_read_as_one_paragraph_still_gets_a_text_part_as_its_label_changes():
    [result] = structured([RegionReading("")], [Region("image", LETTER_BOX)], [letter()], PAGE_SIZE)
    assert [(p.region.label, p.region.bbox, p.content) for p in result.parts] == [
        ("text", union_bbox(letter()), " ".join(LETTER_TEXT))
    ]


def test_a_page_sized_image_with_chart_labels_keeps_its_label_and_takes_their_text_as_content():
    page_image = Region("image", (50, 50, 950, 950))
    labels = [TextLine((60.0, 100.0, 100.0, 120.0), "40", 1.0), TextLine((60.0, 500.0, 100.0, 520.0), "20", 1.0),
              TextLine((120.0, 900.0, 220.0, 920.0), "Revenue", 1.0),
              TextLine((400.0, 900.0, 460.0, 920.0), "Costs", 1.0)]
    reading = RegionReading("")
    [result] = structured([reading], [page_image], [labels], PAGE_SIZE)
    assert result.content == "40 20 Revenue Costs"
    assert result.parts == ()


def test_a_small_image_with_chart_labels_stays_an_empty_picture():
    reading = RegionReading("")
    regions = [Region("image", CHART_BOX), BODY_REGION]
    result = structured([reading, RegionReading("body text")], regions, [chart_labels(), BODY_LINES], PAGE_SIZE)
    assert result[0] is reading
    assert result[0].content == "" and result[0].parts == ()


def test_a_small_image_on_a_page_with_no_other_text_keeps_the_text_found_in_it():
    [result] = structured([RegionReading("")], [Region("image", CHART_BOX)], [chart_labels()], PAGE_SIZE)
    assert result.content == block_text(chart_labels())
    assert result.parts == ()


def test_a_page_sized_image_without_lines_is_left_alone():
    reading = RegionReading("")
    assert structured([reading], [Region("image", (50, 50, 950, 950))], [[]], PAGE_SIZE)[0] is reading


def test_an_image_already_read_with_ocr_for_image_block_is_left_alone():
    reading = RegionReading("Text the image block's OCR already read")
    regions = [LETTER_IMAGE, BODY_REGION]
    lines = [[TITLE, *FIRST, *SECOND], BODY_LINES]
    assert structured([RegionReading(""), RegionReading("body text")], regions, lines, PAGE_SIZE)[0].parts
    result = structured([reading, RegionReading("body text")], regions, lines, PAGE_SIZE)
    assert result[0] is reading


def test_a_page_sized_image_whose_lines_read_as_text_becomes_paragraphs_rather_than_content():
    page_image = Region("image", LETTER_BOX)
    small_page = (PAGE_WIDTH, 360)
    assert keeps_its_text(page_image.bbox, small_page)
    [result] = structured([RegionReading("")], [page_image], [letter()], small_page)
    assert result.content == ""
    assert [p.region.label for p in result.parts] == ["text"]
