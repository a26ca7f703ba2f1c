"""The DOCX export (spec §3.3 `exports`): read back with python-docx, checked against what the Markdown shows."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import replace

import cv2
import docx
import numpy as np
from docx.document import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.table import Table
from docx.text.paragraph import Paragraph

from layout.crop import image_path_for
from layout.docx_export import document_docx
from layout.markdown import MarkdownOptions
from layout.types import Block

PAGE_WIDTH = 1000
OPTIONS = MarkdownOptions()
FIGURE_BOX = (250, 500, 750, 800)  # half the page wide
TABLE_HTML = '<table><tr><td colspan="2">Results</td></tr><tr><td>alpha</td><td>beta</td></tr></table>'


def jpeg(value: int) -> bytes:
    ok, encoded = cv2.imencode(".jpg", np.full((20, 40, 3), value, dtype=np.uint8))
    assert ok
    return encoded.tobytes()


def picture(label: str, bbox: tuple[int, int, int, int], content: str = "") -> Block:
    return Block(label=label, bbox=bbox, content=content, image_path=image_path_for(label, bbox))


FIGURE = picture("image", FIGURE_BOX)
FIGURE_JPEG = jpeg(128)
PAGE: list[Block] = [
    Block("header", (0, 0, 1000, 40), "Journal of Ignored Headers"),
    Block("doc_title", (100, 60, 900, 120), "A Study of\nThings"),
    Block("paragraph_title", (100, 140, 500, 170), "1 Introduction"),
    Block("text", (100, 180, 900, 260), "First line.\nSecond line."),
    Block("paragraph_title", (100, 270, 500, 300), "2.1 Methods"),
    Block("table", (100, 310, 900, 480), TABLE_HTML),
    FIGURE,
    Block("figure_title", (300, 810, 700, 840), "Figure 1: A grey box."),
    Block("display_formula", (300, 850, 700, 900), "$$E = mc^2$$"),
]


def export(blocks: Sequence[Block], images: Mapping[str, bytes], options: MarkdownOptions = OPTIONS) -> Document:
    return docx.Document(io.BytesIO(document_docx(blocks, images, PAGE_WIDTH, markdown=options)))


def page_document() -> Document:
    return export(PAGE, {FIGURE.image_path: FIGURE_JPEG})


def texts(document: Document) -> list[str]:
    """The body's non-empty paragraph texts and tables (as "<table>"), in document order."""
    items = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            items.append("<table>")
        elif item.text:
            items.append(item.text)
    return items


def paragraph(document: Document, text: str) -> Paragraph:
    return next(p for p in document.paragraphs if p.text == text)


def test_titles_are_word_headings_at_the_markdown_levels() -> None:
    headings = [(p.style.name, p.text) for p in page_document().paragraphs if p.style.name != "Normal"]
    # `#` doc title → Title; `## 1 …` → Heading 1; `### 2.1 …` → Heading 2.
    assert headings == [("Title", "A Study of Things"), ("Heading 1", "1 Introduction"), ("Heading 2", "2.1 Methods")]


def test_blocks_appear_in_reading_order_each_text_line_its_own_paragraph() -> None:
    assert texts(page_document()) == [
        "A Study of Things",
        "1 Introduction",
        "First line.",
        "Second line.",
        "2.1 Methods",
        "<table>",
        "Figure 1: A grey box.",
        "$$E = mc^2$$",
    ]


def test_ignored_labels_are_left_out() -> None:
    data = document_docx(PAGE, {FIGURE.image_path: FIGURE_JPEG}, PAGE_WIDTH, markdown=OPTIONS)
    with zipfile.ZipFile(io.BytesIO(data)) as package:  # body, page headers and footers alike
        assert all(b"Ignored" not in package.read(entry) for entry in package.namelist())
    shown = export(PAGE, {FIGURE.image_path: FIGURE_JPEG}, replace(OPTIONS, ignore_labels=frozenset()))
    assert texts(shown)[0] == "Journal of Ignored Headers"


def test_captions_and_display_formulas_are_centred() -> None:
    document = page_document()
    assert paragraph(document, "Figure 1: A grey box.").alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert paragraph(document, "$$E = mc^2$$").alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert paragraph(document, "First line.").alignment is None


def test_table_cells_with_the_colspan_merged_and_a_visible_grid() -> None:
    (table,) = page_document().tables
    assert table.style.name == "Table Grid"
    assert (len(table.rows), len(table.columns)) == (2, 2)
    assert table.cell(0, 0).text == "Results"
    assert table.cell(0, 0).grid_span == 2
    assert table.cell(0, 0)._tc is table.cell(0, 1)._tc
    assert [table.cell(1, 0).text, table.cell(1, 1).text] == ["alpha", "beta"]


def test_one_inline_picture_with_the_crop_bytes_at_its_page_width_share() -> None:
    document = page_document()
    (shape,) = document.inline_shapes
    blip_id = shape._inline.graphic.graphicData.pic.blipFill.blip.embed
    assert document.part.related_parts[blip_id].blob == FIGURE_JPEG
    section = document.sections[0]
    text_width = section.page_width - section.left_margin - section.right_margin
    assert abs(shape.width - text_width / 2) <= 1
    assert abs(shape.height - shape.width / 2) <= 1  # the 40×20 crop keeps its aspect ratio


def test_same_input_gives_identical_bytes_with_fixed_dates() -> None:
    first = document_docx(PAGE, {FIGURE.image_path: FIGURE_JPEG}, PAGE_WIDTH, markdown=OPTIONS)
    assert document_docx(PAGE, {FIGURE.image_path: FIGURE_JPEG}, PAGE_WIDTH, markdown=OPTIONS) == first
    # python-docx stamps zip entries with the current time; every entry must carry the fixed one instead.
    assert {entry.date_time for entry in zipfile.ZipFile(io.BytesIO(first)).infolist()} == {(1980, 1, 1, 0, 0, 0)}
    properties = docx.Document(io.BytesIO(first)).core_properties
    assert properties.created == properties.modified
    assert properties.created.year == 1980


def test_rowspan_line_breaks_and_absorbed_figures_inside_cells() -> None:
    figure_path = image_path_for("image", (10, 10, 50, 50))
    html = (
        "<html><body><table><thead><tr><th rowspan='2'>key</th><th>v1</th></tr></thead>"
        f'<tbody><tr><td>v2<br/>v3 &amp;  more</td></tr><tr><td colspan="2"><img src="{figure_path}" /> fig</td></tr>'
        "</tbody></table></body></html>"
    )
    document = export([Block("table", (0, 0, 1000, 500), html)], {figure_path: jpeg(60)})
    (table,) = document.tables
    assert (len(table.rows), len(table.columns)) == (3, 2)
    assert table.cell(0, 0).text == "key"
    assert table.cell(1, 0)._tc is table.cell(0, 0)._tc  # the rowspan: python-docx reads both rows' cells as one
    assert table.cell(1, 1).text == "v2\nv3 & more"
    assert table.cell(2, 0).text == "fig"
    assert len(document.inline_shapes) == 1


def test_a_table_answer_that_is_no_html_is_kept_as_text() -> None:
    document = export([Block("table", (0, 0, 1000, 500), "Name  Value\nwidth  3")], {})
    assert not document.tables
    assert texts(document) == ["Name  Value", "width  3"]
    assert not texts(export([Block("table", (0, 0, 1000, 500), "<table><tr></tr></table>")], {}))


def test_recognised_chart_is_a_table_and_unrecognised_chart_a_picture() -> None:
    recognised = Block("chart", (0, 0, 500, 500), "Year | Sales\n---|---\n2023 | 5")
    unrecognised = picture("chart", (0, 500, 1000, 900))
    document = export([recognised, unrecognised], {unrecognised.image_path: jpeg(200)})
    (table,) = document.tables
    assert [[cell.text for cell in row.cells] for row in table.rows] == [["Year", "Sales"], ["2023", "5"]]
    assert len(document.inline_shapes) == 1


def test_picture_text_goes_under_it_and_a_missing_crop_is_skipped() -> None:
    seal = picture("seal", (0, 0, 200, 200), "Company Seal")
    document = export([seal], {})
    assert not document.inline_shapes
    assert texts(document) == ["Company Seal"]


def test_formula_number_follows_show_formula_number() -> None:
    blocks = [Block("display_formula", (0, 0, 800, 50), "$$a+b$$"), Block("formula_number", (900, 0, 990, 50), "(1)")]
    assert texts(export(blocks, {})) == ["$$a+b$$"]
    assert texts(export(blocks, {}, replace(OPTIONS, show_formula_number=True))) == ["$$a+b \\tag*{(1)}$$"]


def test_table_of_contents_lines_stay_in_one_paragraph() -> None:
    document = export([Block("content", (0, 0, 1000, 300), "1 Intro ... 1\n2 Methods ... 4")], {})
    assert texts(document) == ["1 Intro ... 1\n2 Methods ... 4"]
