"""Real documents of ../shared/eval through the running service, with assertions on content."""

from __future__ import annotations

import difflib
import re

import pytest

from layout.table_merge import table_rows
from loadtest.accuracy import normalised, text_accuracy
from loadtest.sample_pages import (
    SamplePage,
    equation_cards,
    financial_table,
    letter_over_photo,
    newspaper,
    small_page,
    tight_spacing,
)
from tests.pdf_samples import paragraphs_pdf, text_pdf
from tests.service.conftest import b64, file_b64

pytestmark = pytest.mark.service

DOCLING_SENTENCE = "Docling bundles PDF document conversion to JSON and Markdown in an easy self contained package"


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)).strip().lower()


def _parse(client, path, **fields) -> dict:
    r = client.post("/layout-parsing", json={"file": file_b64(path), "visualize": False, **fields})
    assert r.status_code == 200, r.text[:500]
    return r.json()["result"]


@pytest.mark.parametrize("name", ["ocr_test", "ocr_test_rotated_90", "ocr_test_rotated_180", "ocr_test_rotated_270"])
def test_known_sentence_is_read_on_every_rotation_with_orientation_on(client, eval_dir, name):
    result = _parse(client, eval_dir / "docling_ocr" / "sources" / f"{name}.pdf", useDocOrientationClassify=True)
    [page] = result["layoutParsingResults"]
    text = _normalise(page["markdown"]["text"])
    similarity = difflib.SequenceMatcher(None, text, DOCLING_SENTENCE.lower()).ratio()
    assert similarity > 0.9, text
    preprocessing = page["prunedResult"]["doc_preprocessor_res"]
    assert preprocessing["model_settings"]["use_doc_orientation_classify"] is True
    assert preprocessing["angle"] in (0, 90, 180, 270)
    if name == "ocr_test":
        assert preprocessing["angle"] == 0
    # Coordinates refer to the upright page: the sentence runs across it, so the page is portrait.
    assert page["prunedResult"]["height"] > page["prunedResult"]["width"]


def test_rotated_page_without_orientation_reports_no_preprocessing(client, eval_dir):
    result = _parse(client, eval_dir / "docling_ocr" / "sources" / "ocr_test.pdf")
    assert "doc_preprocessor_res" not in result["layoutParsingResults"][0]["prunedResult"]


def test_table_becomes_html_with_its_cells(client, eval_dir):
    result = _parse(client, eval_dir / "docling_pdf" / "sources" / "2305.03393v1-pg9.pdf")
    blocks = result["layoutParsingResults"][0]["prunedResult"]["parsing_res_list"]
    tables = [b for b in blocks if b["block_label"] == "table"]
    assert tables, [b["block_label"] for b in blocks]
    html = tables[0]["block_content"]
    assert html.startswith("<table>") and html.count("<tr>") >= 4
    assert "OTSL" in html and "HTML" in html
    markdown = result["layoutParsingResults"][0]["markdown"]["text"]
    assert "<table" in markdown and "5.1 Hyper Parameter Optimization" in markdown


def test_multi_page_pdf_gives_one_result_per_page_in_order(client, eval_dir):
    result = _parse(client, eval_dir / "docling_pdf" / "sources" / "normal_4pages.pdf")
    info = result["dataInfo"]
    assert info["type"] == "pdf" and info["numPages"] == 4 == len(result["layoutParsingResults"])
    for page, size in zip(result["layoutParsingResults"], info["pages"]):
        assert (page["prunedResult"]["width"], page["prunedResult"]["height"]) == (size["width"], size["height"])


def test_two_column_page_reads_left_column_before_right(client, eval_dir):
    result = _parse(client, eval_dir / "publaynet_examples" / "images" / "PMC4527132_00004.jpg")
    pruned = result["layoutParsingResults"][0]["prunedResult"]
    text_blocks = [b for b in pruned["parsing_res_list"] if b["block_label"] == "text"]
    middle = pruned["width"] / 2
    sides = ["left" if (b["block_bbox"][0] + b["block_bbox"][2]) / 2 < middle else "right" for b in text_blocks]
    assert "left" in sides and "right" in sides
    # Once reading has moved to the right column it never returns to the left one.
    assert sides == sorted(sides), sides
    orders = [b["block_order"] for b in text_blocks]
    assert orders == sorted(orders)


def test_tiff_scan_is_read(client, eval_dir):
    result = _parse(client, eval_dir / "ocrd_kant_1784" / "INPUT_0017.tif")
    assert result["dataInfo"]["type"] in ("image", "tiff")
    assert len(_normalise(result["layoutParsingResults"][0]["markdown"]["text"])) > 200


PARAGRAPHS = [
    ["Harbour traffic rose again in the spring, as the", "new quay opened to the larger container ships and",
     "the ferries kept their summer timetable."],
    ["Freight by rail stayed level: the line to the", "north was closed for four weeks of repairs."],
    ["Next year the port expects more cruise ships, and", "the town plans a second car park by the station."],
]


@pytest.mark.parametrize("text_layer", ["auto", "off"])
def test_a_column_of_paragraphs_comes_back_as_one_text_block_per_paragraph(client, text_layer):
    # Indented first lines and no blank lines between: the layout model boxes the column as one text region.
    document = paragraphs_pdf(PARAGRAPHS, font_size=14, blank_lines=False)
    result = client.post("/layout-parsing", json={"file": b64(document), "visualize": False,
                                                  "textLayer": text_layer}).json()["result"]
    [page] = result["layoutParsingResults"]
    assert len(page["prunedResult"]["layout_det_res"]["boxes"]) < len(PARAGRAPHS)
    texts = [b["block_content"] for b in page["prunedResult"]["parsing_res_list"] if b["block_label"] == "text"]
    assert [_normalise(text) for text in texts] == [_normalise(" ".join(lines)) for lines in PARAGRAPHS]
    assert page["markdown"]["text"].count("\n\n") >= len(PARAGRAPHS) - 1


@pytest.mark.parametrize("footer", ["7", "Harbour Report 2026"])
def test_a_page_number_or_running_footer_is_furniture_left_out_of_markdown(client, footer):
    lines = ["Quarterly report on harbour traffic", "Ships arrived in March: 42 (up 5%)"]
    result = client.post("/layout-parsing", json={"file": b64(text_pdf(lines, footer=footer)),
                                                  "visualize": False}).json()["result"]
    [page] = result["layoutParsingResults"]
    blocks = {b["block_content"]: b["block_label"] for b in page["prunedResult"]["parsing_res_list"]}
    # Whether the layout model boxes it or it is found outside every box (layout/furniture.py).
    assert blocks.get(footer) in ("number", "footer")
    assert footer not in page["markdown"]["text"]


def _read(client, page: SamplePage) -> dict:
    r = client.post("/layout-parsing", json={"file": b64(page.png), "fileType": 1, "visualize": False})
    assert r.status_code == 200, r.text[:500]
    [result] = r.json()["result"]["layoutParsingResults"]
    return result


def test_a_statement_without_rules_comes_back_as_one_table_holding_its_header_rows(client):
    page = financial_table()
    result = _read(client, page)
    blocks = result["prunedResult"]["parsing_res_list"]
    [table] = [b for b in blocks if b["block_label"] == "table"]
    rows = {tuple(cell.text.strip() for cell in row.cells) for row in table_rows(table["block_content"])}
    assert all(row in rows for row in page.table[1:]), rows
    assert "Year ended 31 December" in table["block_content"]
    assert not any("Year ended" in b["block_content"] or b["block_content"] == "2023" for b in blocks
                   if b["block_label"] != "table")


def test_the_titles_and_equations_of_cards_taken_for_a_picture_are_read_in_order(client):
    page = equation_cards()
    markdown = _read(client, page)["markdown"]["text"]
    assert text_accuracy(markdown, page.truth) > 0.9, markdown
    assert "newton's second law" in normalised(markdown) and "ideal gas law" in normalised(markdown)


def test_a_newspaper_page_reads_its_columns_and_leaves_its_furniture_out(client):
    page = newspaper()
    result = _read(client, page)
    labels = {b["block_content"]: b["block_label"] for b in result["prunedResult"]["parsing_res_list"]}
    header, number = page.furniture
    assert labels.get(header) == "header" and labels.get(number) in ("number", "footer"), labels
    markdown = result["markdown"]["text"]
    assert header not in markdown
    assert text_accuracy(markdown, page.truth) > 0.95, markdown


def test_words_set_tight_come_back_with_spaces_between_them(client):
    page = tight_spacing()
    text = normalised(_read(client, page)["markdown"]["text"])
    assert "composition of" in text and "evaluation of" in text, text


@pytest.mark.parametrize("make", [letter_over_photo, small_page])
def test_a_letter_over_a_photo_and_a_small_page_are_read_in_full(client, make):
    page = make()
    markdown = _read(client, page)["markdown"]["text"]
    assert text_accuracy(markdown, page.truth) > 0.95, markdown
