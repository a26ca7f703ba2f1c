"""A PDF page's text layer as pdfium reports it: one `Glyph` per character, in the pixel coordinates of the page
as `layout.decode` renders it (the page's `/Rotate` and crop box applied, at the render scale).

Only this module talks to pdfium's text API; grouping glyphs into lines and deciding what to trust is the pure
side's (`layout.text_layer`). Callers hold `layout.decode`'s pdfium lock.
"""

from __future__ import annotations

import ctypes
import math
import unicodedata

import pypdfium2 as pdfium
import pypdfium2.raw as raw

from layout.text_layer import Glyph

# Page-space points far apart, so the integer device coordinates pdfium returns pin the affine map down to
# well under a pixel.
_PROBE = 10_000.0
# A glyph whose baseline turns more than this (radians, in the rendered page) is not running left-to-right or
# right-to-left text: vertical or rotated text goes to OCR, which reads it upright or not at all.
_MAX_BASELINE_TILT = math.radians(5)
# Private-use code points are what many fonts without a Unicode map hand back.
_UNREADABLE_CATEGORIES = frozenset({"Cc", "Co", "Cn", "Cs"})
_REPLACEMENT = "\ufffd"


class _PageToPixels:
    """The affine map pdfium itself uses when rendering the page at (width, height) pixels with no extra rotation:
    it carries `/Rotate` and the crop box. Probed through FPDF_PageToDevice at three points."""

    def __init__(self, page: pdfium.PdfPage, width: int, height: int) -> None:
        def device(x: float, y: float) -> tuple[float, float]:
            dx, dy = ctypes.c_int(), ctypes.c_int()
            raw.FPDF_PageToDevice(page, 0, 0, width, height, 0, x, y, ctypes.byref(dx), ctypes.byref(dy))
            return float(dx.value), float(dy.value)

        self._origin = device(0.0, 0.0)
        ux, uy = device(_PROBE, 0.0)
        vx, vy = device(0.0, _PROBE)
        self._x_axis = ((ux - self._origin[0]) / _PROBE, (uy - self._origin[1]) / _PROBE)
        self._y_axis = ((vx - self._origin[0]) / _PROBE, (vy - self._origin[1]) / _PROBE)

    def point(self, x: float, y: float) -> tuple[float, float]:
        return (
            self._origin[0] + x * self._x_axis[0] + y * self._y_axis[0],
            self._origin[1] + x * self._x_axis[1] + y * self._y_axis[1],
        )

    def direction(self, dx: float, dy: float) -> tuple[float, float]:
        return dx * self._x_axis[0] + dy * self._y_axis[0], dx * self._x_axis[1] + dy * self._y_axis[1]


def page_glyphs(page: pdfium.PdfPage, width: int, height: int) -> list[Glyph]:
    """Every character of the page's text layer in pdfium's reading order, generated ones (the spaces and line
    breaks pdfium infers) as `Glyph.separator`s, in the pixels of the page rendered at `width` × `height`."""
    to_pixels = _PageToPixels(page, width, height)
    textpage = page.get_textpage()
    try:
        return [_glyph(textpage, i, to_pixels) for i in range(textpage.count_chars())]
    finally:
        textpage.close()


def _glyph(textpage: pdfium.PdfTextPage, index: int, to_pixels: _PageToPixels) -> Glyph:
    code = raw.FPDFText_GetUnicode(textpage, index)
    # pdfium hands a hyphen that ends a line back as a control code; it is a hyphen on the page.
    char = "-" if raw.FPDFText_IsHyphen(textpage, index) == 1 else chr(code) if 0 < code < 0x110000 else _REPLACEMENT
    if raw.FPDFText_IsGenerated(textpage, index) or char.isspace():
        return Glyph.separator(char)
    box = raw.FS_RECTF()
    if not raw.FPDFText_GetLooseCharBox(textpage, index, ctypes.byref(box)):
        return Glyph.separator(char)
    corners = [to_pixels.point(x, y) for x in (box.left, box.right) for y in (box.bottom, box.top)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    text_object = raw.FPDFText_GetTextObject(textpage, index)
    invisible = bool(text_object) and (
        raw.FPDFTextObj_GetTextRenderMode(text_object) == raw.FPDF_TEXTRENDERMODE_INVISIBLE
    )
    return Glyph(
        char=char,
        bbox=(min(xs), min(ys), max(xs), max(ys)),
        readable=_readable(char) and not raw.FPDFText_HasUnicodeMapError(textpage, index),
        visible=not invisible,
        upright=_upright(textpage, index, to_pixels),
    )


def _readable(char: str) -> bool:
    return char != _REPLACEMENT and unicodedata.category(char) not in _UNREADABLE_CATEGORIES


def _upright(textpage: pdfium.PdfTextPage, index: int, to_pixels: _PageToPixels) -> bool:
    """Whether the glyph's baseline runs horizontally on the rendered page (either way along it)."""
    matrix = raw.FS_MATRIX()
    if not raw.FPDFText_GetMatrix(textpage, index, ctypes.byref(matrix)):
        return True
    dx, dy = to_pixels.direction(matrix.a, matrix.b)
    return abs(math.atan2(dy, abs(dx))) <= _MAX_BASELINE_TILT if (dx or dy) else True
