"""The sample PDFs of `tests.pdf_samples` are what they claim, as pdfium sees them: the text a text page extracts,
how chars are drawn, where the ink falls in a scale-2 render, and (the slow part) that OCR reads the pages whose text
layer is missing or unusable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

from tests import pdf_samples

LINES = ["Quarterly report on harbour traffic", "Ships arrived in March: 42 (up 5%)"]
# Render scale of the tests: the scale the samples are sized for (scan pixels = rendered pixels).
SCALE = pdf_samples.SCAN_SCALE
MARGIN_PX = pdf_samples.MARGIN * SCALE
INK = 128  # a pixel darker than this, in its darkest channel, is ink


def _document(data: bytes) -> pdfium.PdfDocument:
    return pdfium.PdfDocument(data)


def _gray(page: pdfium.PdfPage) -> np.ndarray:
    return page.render(scale=SCALE).to_numpy().min(axis=2)


def _ink_box(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) in pixels of everything dark, or None for a blank render."""
    rows = np.flatnonzero((gray < INK).any(axis=1))
    cols = np.flatnonzero((gray < INK).any(axis=0))
    if not rows.size:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def _chars(textpage: pdfium.PdfTextPage) -> list[int]:
    """The code points pdfium reports, pdfium's own line breaks (generated chars) left out."""
    return [
        pdfium_c.FPDFText_GetUnicode(textpage.raw, index)
        for index in range(textpage.count_chars())
        if not pdfium_c.FPDFText_IsGenerated(textpage.raw, index)
    ]


BUILDERS: dict[str, Callable[[], bytes]] = {
    "text": lambda: pdf_samples.text_pdf(LINES),
    "paragraphs": lambda: pdf_samples.paragraphs_pdf([LINES, ["A second paragraph."]]),
    "scanned": lambda: pdf_samples.scanned_pdf_with_invisible_layer(LINES, LINES),
    "no_unicode": lambda: pdf_samples.no_unicode_pdf(LINES),
    "outlined": lambda: pdf_samples.outlined_text_pdf(LINES),
    "blank_and_text": lambda: pdf_samples.blank_and_text_pdf([LINES]),
}


@pytest.mark.parametrize("name", BUILDERS)
def test_each_sample_renders_its_lines_from_the_top_left_margin(name: str) -> None:
    page = _document(BUILDERS[name]())[0]
    assert (page.get_width(), page.get_height()) == (612, 792)
    gray = _gray(page)
    assert gray.shape == (792 * SCALE, 612 * SCALE)
    box = _ink_box(gray)
    assert box is not None, "nothing drawn"
    left, top, right, bottom = box
    # Glyphs start at the left margin (a side bearing or the paragraph indent to the right of it) and the text sits
    # in the top part of the page, below the top margin.
    assert MARGIN_PX <= left <= MARGIN_PX + 60
    assert MARGIN_PX <= top <= MARGIN_PX + 30
    assert right > left + 300 and bottom < gray.shape[0] / 3


@pytest.mark.parametrize("name", BUILDERS)
def test_each_sample_has_a_cross_reference_table_that_points_at_its_objects(name: str) -> None:
    # pdfium quietly rebuilds a broken table, so opening the file would not show a wrong offset.
    data = BUILDERS[name]()
    xref = int(data.rsplit(b"startxref\n", 1)[1].split()[0])
    assert data[xref:].startswith(b"xref\n0 ")
    header, *entries = data[xref:].split(b"trailer", 1)[0].splitlines()[1:]
    assert int(header.split()[1]) == len(entries)
    for number, entry in enumerate(entries[1:], start=1):
        offset = int(entry.split()[0])
        assert data[offset:].startswith(f"{number} 0 obj\n".encode()), number


def test_text_pdf_extracts_its_lines() -> None:
    page = _document(pdf_samples.text_pdf(LINES))[0]
    assert page.get_textpage().get_text_range().split("\r\n") == LINES


def test_text_pdf_escapes_what_a_literal_string_cannot_hold() -> None:
    lines = [r"Costs (net) \ gross: 12 € – 5 €"]
    text = _document(pdf_samples.text_pdf(lines))[0].get_textpage().get_text_range()
    assert text == lines[0]


def test_rotated_text_pdf_is_a_landscape_render_of_the_same_text() -> None:
    page = _document(pdf_samples.text_pdf(LINES, rotate=90))[0]
    assert page.get_rotation() == 90
    gray = _gray(page)
    assert gray.shape == (612 * SCALE, 792 * SCALE)
    # Turned clockwise: the lines, drawn near the top of the unrotated page, now run down its right-hand side.
    left, _, right, _ = _ink_box(gray)
    assert left > gray.shape[1] / 2 and right < gray.shape[1] - MARGIN_PX
    # pdfium's text page keeps every line, though not necessarily in top-down order.
    assert sorted(page.get_textpage().get_text_range().split("\r\n")) == sorted(LINES)


def test_text_pdf_refuses_a_rotation_pdf_does_not_have() -> None:
    with pytest.raises(ValueError, match="rotate"):
        pdf_samples.text_pdf(LINES, rotate=45)


def test_paragraphs_pdf_indents_first_lines_and_leaves_a_gap_between_paragraphs() -> None:
    paragraphs = [["First paragraph, line one,", "and its line two."], ["Second paragraph, one line."]]
    textpage = _document(pdf_samples.paragraphs_pdf(paragraphs, font_size=12))[0].get_textpage()
    text = textpage.get_text_range()
    assert text.split("\r\n") == [line for paragraph in paragraphs for line in paragraph]

    starts = [textpage.get_charbox(text.index(line)) for paragraph in paragraphs for line in paragraph]
    (first_left, first_bottom, *_), (second_left, second_bottom, *_), (third_left, third_bottom, *_) = starts
    assert first_left - second_left == pytest.approx(24, abs=2)  # 2 em at 12 pt
    assert third_left == pytest.approx(first_left, abs=1)
    line_gap = first_bottom - second_bottom
    assert second_bottom - third_bottom == pytest.approx(2 * line_gap, abs=1)


def test_blank_and_text_pdf_has_blank_pages_where_asked() -> None:
    document = _document(pdf_samples.blank_and_text_pdf([None, LINES, None]))
    assert len(document) == 3
    for index, lines in enumerate([None, LINES, None]):
        page = document[index]
        textpage = page.get_textpage()
        if lines is None:
            assert textpage.count_chars() == 0
            assert _ink_box(_gray(page)) is None
        else:
            assert textpage.get_text_range().split("\r\n") == LINES
            assert _ink_box(_gray(page)) is not None


def test_scanned_pdf_layer_is_invisible_text_over_the_image() -> None:
    layer = ["Totals for 2023", "Revenue 7,000"]
    page = _document(pdf_samples.scanned_pdf_with_invisible_layer(LINES, layer))[0]
    textpage = page.get_textpage()
    assert textpage.get_text_range().split("\r\n") == layer
    modes = {
        pdfium_c.FPDFTextObj_GetTextRenderMode(pdfium_c.FPDFText_GetTextObject(textpage.raw, index))
        for index in range(textpage.count_chars())
        if not pdfium_c.FPDFText_IsGenerated(textpage.raw, index)
    }
    assert modes == {pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE}
    assert _ink_box(_gray(page)) is not None


def test_scanned_pdf_ink_comes_from_the_image_only() -> None:
    page = _document(pdf_samples.scanned_pdf_with_invisible_layer([], LINES))[0]
    assert page.get_textpage().count_chars() > 0
    assert _ink_box(_gray(page)) is None


def test_scanned_pdf_layer_sits_on_the_image_lines() -> None:
    page = _document(pdf_samples.scanned_pdf_with_invisible_layer(LINES, LINES))[0]
    textpage, gray = page.get_textpage(), _gray(page)
    for index, line in enumerate(LINES):
        start = textpage.get_text_range().index(line)
        left, bottom, _, _ = textpage.get_charbox(start)
        right, top = textpage.get_charbox(start + len(line) - 1)[2:]
        band = gray[round((792 - top) * SCALE) - 4 : round((792 - bottom) * SCALE) + 4]
        cols = np.flatnonzero((band < INK).any(axis=0))
        assert cols[0] / SCALE == pytest.approx(left, abs=2)
        assert cols[-1] / SCALE == pytest.approx(right, abs=2)


def test_no_unicode_pdf_has_chars_but_none_of_its_letters() -> None:
    page = _document(pdf_samples.no_unicode_pdf(LINES))[0]
    textpage = page.get_textpage()
    assert textpage.count_chars() > 0
    codes = _chars(textpage)
    assert len(codes) == sum(len(line) for line in LINES)
    # pdfium falls back to the char code, which the font keeps in the C0 and C1 control ranges.
    assert all(code < 0x20 or 0x7F <= code < 0xA0 for code in codes)
    text = textpage.get_text_range()
    assert not set(text) & set("".join(LINES))
    assert _ink_box(_gray(page)) is not None


def test_no_unicode_pdf_refuses_more_characters_than_its_codes() -> None:
    with pytest.raises(ValueError, match="distinct characters"):
        pdf_samples.no_unicode_pdf(["ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789.,;:"])


def test_outlined_text_pdf_has_no_text() -> None:
    page = _document(pdf_samples.outlined_text_pdf(LINES))[0]
    assert page.get_textpage().count_chars() == 0
    assert _ink_box(_gray(page)) is not None


@pytest.fixture(scope="module")
def ocr():
    import rapidocr
    from rapidocr import RapidOCR

    # The models bundled in the wheel, as the service's backend uses them; no download is ever attempted.
    models = Path(rapidocr.__file__).parent / "models"
    return RapidOCR(
        params={
            "Global.log_level": "warning",
            "Global.use_cls": False,
            "Det.model_path": str(models / "PP-OCRv6_det_small.onnx"),
            "Rec.model_path": str(models / "PP-OCRv6_rec_small.onnx"),
            "Cls.model_path": str(models / "ch_ppocr_mobile_v2.0_cls_mobile.onnx"),
        }
    )


@pytest.mark.parametrize("builder", [pdf_samples.outlined_text_pdf, pdf_samples.no_unicode_pdf])
def test_ocr_reads_pages_whose_text_is_only_drawn(ocr, builder: Callable[[list[str]], bytes]) -> None:
    page = _document(builder(LINES))[0]
    bgr = page.render(scale=SCALE).to_numpy()  # pdfium renders BGR, the order rapidocr expects
    read = " ".join(ocr(bgr).txts or ()).lower().split()
    words = " ".join(LINES).lower().split()
    found = [word for word in words if word in read]
    assert len(found) >= 0.8 * len(words), read
