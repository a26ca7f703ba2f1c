"""Small PDFs built in memory for tests of the PDF text layer (born-digital text read instead of OCR, OCR kept
when the layer cannot be trusted).

Each builder returns the bytes of a complete PDF. The files are written by hand, object by object, so every page
holds exactly what its builder says and nothing a PDF library would add. Pages are US Letter (612 x 792 pt) and
the text is big enough for OCR to read when a page is rendered at scale 2.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from functools import lru_cache

from fontTools.pens.basePen import BasePen
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

PAGE_WIDTH = 612
PAGE_HEIGHT = 792
MARGIN = 72
DEJAVU_SANS = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

# The scan is the page at 144 dpi, the resolution a scale-2 render has, so image pixels and rendered pixels agree.
SCAN_SCALE = 2
SCAN_FONT_PX = 40
# Line pitch as a multiple of the font size: loose enough that OCR never merges two lines.
LINE_PITCH = 1.5

# Type3 char codes whose fallback in pdfium is a C0 or C1 control character, never a letter: with no /ToUnicode
# and glyph names that are no Unicode name, pdfium's text page reports the char code itself as the character.
# Code 0 is left out (U+0000, which get_text_range drops) and so are tab, line feed and carriage return, which
# would read as whitespace and line breaks.
_NO_UNICODE_CODES = [c for c in [*range(1, 32), *range(0x7F, 0xA0)] if c not in (0x09, 0x0A, 0x0D)]


def text_pdf(
    lines: Sequence[str], *, rotate: int = 0, font_size: float = 18, footer: str | None = None
) -> bytes:
    """One page of visible Helvetica lines, top-down; `rotate` is the page's /Rotate, for orientation tests;
    `footer` is set small and centred in the bottom margin, as a page number or running footer is."""
    if rotate not in (0, 90, 180, 270):
        raise ValueError(f"rotate must be 0, 90, 180 or 270, not {rotate}")
    content = _helvetica_lines(lines, font_size)
    if footer is not None:
        content += f"\nBT /F1 10 Tf 1 0 0 1 {PAGE_WIDTH // 2} {MARGIN // 2} Tm {_pdf_string(footer)} Tj ET"
    pdf = _PdfWriter()
    font = pdf.add(_HELVETICA)
    pdf.add_page(content, f"<< /Font << /F1 {font} 0 R >> >>", rotate=rotate)
    return pdf.to_bytes()


def landscape_pdf(lines: Sequence[str], *, font_size: float = 18) -> bytes:
    """A /Rotate 90 page whose text is drawn turned the other way, so it reads upright once the page is turned: how
    landscape pages are usually made."""
    pdf = _PdfWriter()
    font = pdf.add(_HELVETICA)
    ops = ["BT", f"/F1 {_n(font_size)} Tf"]
    for index, line in enumerate(lines):
        baseline = MARGIN + font_size + index * font_size * LINE_PITCH
        ops.append(f"0 1 -1 0 {_n(baseline)} {MARGIN} Tm {_pdf_string(line)} Tj")
    ops.append("ET")
    pdf.add_page("\n".join(ops), f"<< /Font << /F1 {font} 0 R >> >>", rotate=90)
    return pdf.to_bytes()


def paragraphs_pdf(
    paragraphs: Sequence[Sequence[str]], *, font_size: float = 12, blank_lines: bool = True
) -> bytes:
    """One page of paragraphs (first line indented 2 em, a blank line between them unless `blank_lines` is off),
    for paragraph splitting."""
    leading = font_size * 1.2
    ops = ["BT", f"/F1 {_n(font_size)} Tf", f"{_n(leading)} TL", f"{MARGIN} {_n(PAGE_HEIGHT - MARGIN - font_size)} Td"]
    indent = 2 * font_size
    for number, paragraph in enumerate(paragraphs):
        if number and blank_lines:
            ops.append("T*")
        for index, line in enumerate(paragraph):
            if index == 0:
                ops.append(f"{_n(indent)} 0 Td {_pdf_string(line)} Tj {_n(-indent)} 0 Td T*")
            else:
                ops.append(f"{_pdf_string(line)} Tj T*")
    ops.append("ET")
    pdf = _PdfWriter()
    font = pdf.add(_HELVETICA)
    pdf.add_page("\n".join(ops), f"<< /Font << /F1 {font} 0 R >> >>")
    return pdf.to_bytes()


def scanned_pdf_with_invisible_layer(image_lines: Sequence[str], layer_lines: Sequence[str]) -> bytes:
    """A scan with an OCR layer: a page-size JPEG of `image_lines` under invisible (3 Tr) text of `layer_lines`.

    Layer line i sits on image line i's baseline and, where the two say the same, char for char on its glyphs: the
    layer's font is Helvetica by name but carries DejaVu Sans widths, the font the image was drawn with. A layer
    that disagrees with the image (other words, more or fewer lines) is how an untrustworthy OCR layer looks.
    """
    font_px = SCAN_FONT_PX
    image = Image.new("RGB", (PAGE_WIDTH * SCAN_SCALE, PAGE_HEIGHT * SCAN_SCALE), "white")
    draw = ImageDraw.Draw(image)
    pil_font = ImageFont.truetype(DEJAVU_SANS, font_px)
    dejavu = _dejavu()
    for index, line in enumerate(image_lines):
        # Glyph by glyph at the font's own advances (no kerning, no hinting drift) so the layer's widths match.
        x = MARGIN * SCAN_SCALE
        baseline = _baseline(index, font_px / SCAN_SCALE) * SCAN_SCALE
        for char in line:
            draw.text((x, PAGE_HEIGHT * SCAN_SCALE - baseline), char, font=pil_font, fill="black", anchor="ls")
            x += dejavu.advance(char) * font_px / dejavu.units_per_em
    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG", quality=90)

    font_size = font_px / SCAN_SCALE
    ops = [f"q {PAGE_WIDTH} 0 0 {PAGE_HEIGHT} 0 0 cm /Scan Do Q", "BT", f"/F1 {_n(font_size)} Tf", "3 Tr"]
    for index, line in enumerate(layer_lines):
        ops.append(f"1 0 0 1 {MARGIN} {_n(_baseline(index, font_size))} Tm {_pdf_string(line)} Tj")
    ops.append("ET")

    pdf = _PdfWriter()
    widths = " ".join(str(round(dejavu.advance_of_code(code) * 1000 / dejavu.units_per_em)) for code in range(32, 256))
    font = pdf.add(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding "
        f"/FirstChar 32 /LastChar 255 /Widths [{widths}] >>"
    )
    width, height = image.size
    scan = pdf.add_stream(
        jpeg.getvalue(),
        f"/Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceRGB "
        "/BitsPerComponent 8 /Filter /DCTDecode",
    )
    pdf.add_page("\n".join(ops), f"<< /Font << /F1 {font} 0 R >> /XObject << /Scan {scan} 0 R >> >>")
    return pdf.to_bytes()


def no_unicode_pdf(lines: Sequence[str]) -> bytes:
    """Text that looks right but extracts as garbage: a Type3 font without /ToUnicode, glyph names /g1, /g2, ...

    The glyph procedures fill DejaVu Sans outlines, so a render (and OCR) shows the real words. pdfium finds no
    Unicode for a char and falls back to its char code, which this font keeps in the control ranges: every char of
    the text page, spaces included, is a C0 (U+0001..U+001F) or C1 (U+007F..U+009F) control character.
    """
    font_size = 18.0
    dejavu = _dejavu()
    chars = sorted({char for line in lines for char in line})
    if len(chars) > len(_NO_UNICODE_CODES):
        raise ValueError(f"at most {len(_NO_UNICODE_CODES)} distinct characters fit the font, got {len(chars)}")
    codes = dict(zip(chars, _NO_UNICODE_CODES))

    pdf = _PdfWriter()
    procs: dict[int, int] = {}
    widths: dict[int, int] = {}
    for char, code in codes.items():
        # d1 (width and bounding box) says the procedure sets no colour: glyphs are filled in the text's colour.
        x_min, y_min, x_max, y_max = dejavu.bounds(char)
        path = dejavu.path(char)
        fill = f"\n{path} f" if path else ""  # a space has no outline
        widths[code] = dejavu.advance(char)
        procs[code] = pdf.add_stream(f"{widths[code]} 0 {x_min} {y_min} {x_max} {y_max} d1{fill}")
    first, last = min(procs, default=1), max(procs, default=1)
    char_procs = " ".join(f"/g{code} {obj} 0 R" for code, obj in procs.items())
    differences = " ".join(f"{code} /g{code}" for code in procs)
    width_list = " ".join(str(widths.get(code, 0)) for code in range(first, last + 1))
    scale = _n(1 / dejavu.units_per_em, digits=10)
    font = pdf.add(
        f"<< /Type /Font /Subtype /Type3 /FontBBox [{' '.join(map(str, dejavu.font_bbox))}] "
        f"/FontMatrix [{scale} 0 0 {scale} 0 0] /CharProcs << {char_procs} >> "
        f"/Encoding << /Type /Encoding /Differences [{differences}] >> "
        f"/FirstChar {first} /LastChar {last} /Widths [{width_list}] /Resources << >> >>"
    )

    ops = ["BT", f"/T1 {_n(font_size)} Tf"]
    for index, line in enumerate(lines):
        hex_codes = "".join(f"{codes[char]:02X}" for char in line)
        ops.append(f"1 0 0 1 {MARGIN} {_n(_baseline(index, font_size))} Tm <{hex_codes}> Tj")
    ops.append("ET")
    pdf.add_page("\n".join(ops), f"<< /Font << /T1 {font} 0 R >> >>")
    return pdf.to_bytes()


def outlined_text_pdf(lines: Sequence[str]) -> bytes:
    """Lines as filled DejaVu Sans glyph outlines and no text objects: text only OCR can read."""
    font_size = 18.0
    dejavu = _dejavu()
    scale = font_size / dejavu.units_per_em
    ops = ["0 g"]
    for index, line in enumerate(lines):
        x = float(MARGIN)
        y = _baseline(index, font_size)
        for char in line:
            path = dejavu.path(char)
            if path:
                ops.append(f"q {_n(scale, digits=6)} 0 0 {_n(scale, digits=6)} {_n(x)} {_n(y)} cm\n{path} f\nQ")
            x += dejavu.advance(char) * scale
    pdf = _PdfWriter()
    pdf.add_page("\n".join(ops), "<< >>")
    return pdf.to_bytes()


def blank_and_text_pdf(pages: Sequence[Sequence[str] | None]) -> bytes:
    """Several pages, None a blank page and otherwise Helvetica lines as in `text_pdf`: for mixed documents."""
    pdf = _PdfWriter()
    font = pdf.add(_HELVETICA)
    for lines in pages:
        if lines is None:
            pdf.add_page(None, "<< >>")
        else:
            pdf.add_page(_helvetica_lines(lines, 18), f"<< /Font << /F1 {font} 0 R >> >>")
    return pdf.to_bytes()


# Not embedded: every viewer has Helvetica's metrics built in (pdfium substitutes a look-alike face).
_HELVETICA = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"


def _helvetica_lines(lines: Sequence[str], font_size: float) -> str:
    ops = ["BT", f"/F1 {_n(font_size)} Tf"]
    for index, line in enumerate(lines):
        ops.append(f"1 0 0 1 {MARGIN} {_n(_baseline(index, font_size))} Tm {_pdf_string(line)} Tj")
    ops.append("ET")
    return "\n".join(ops)


def _baseline(index: int, font_size: float) -> float:
    """Baseline height (PDF user space, from the bottom) of line `index` when the first line's top is at the margin."""
    return PAGE_HEIGHT - MARGIN - font_size - index * font_size * LINE_PITCH


def _pdf_string(text: str) -> str:
    """A literal string in WinAnsiEncoding (cp1252), with what a literal string cannot hold escaped in octal."""
    out = []
    for byte in text.encode("cp1252"):
        char = chr(byte)
        if char in "()\\":
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return "(" + "".join(out) + ")"


def _n(value: float, digits: int = 3) -> str:
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


class _PathPen(BasePen):
    """Collects a glyph's outline as PDF path operators in font units (TrueType quadratics become cubics)."""

    def __init__(self, glyph_set) -> None:
        super().__init__(glyph_set)
        self.ops: list[str] = []

    def _moveTo(self, pt) -> None:
        self.ops.append(f"{_n(pt[0])} {_n(pt[1])} m")

    def _lineTo(self, pt) -> None:
        self.ops.append(f"{_n(pt[0])} {_n(pt[1])} l")

    def _curveToOne(self, pt1, pt2, pt3) -> None:
        self.ops.append(" ".join(f"{_n(x)} {_n(y)}" for x, y in (pt1, pt2, pt3)) + " c")

    def _closePath(self) -> None:
        self.ops.append("h")


class _Outlines:
    """DejaVu Sans glyphs by character: advance width, bounding box and outline, all in font units."""

    def __init__(self, path: str) -> None:
        self._font = TTFont(path)
        self._cmap = self._font.getBestCmap()
        self._glyphs = self._font.getGlyphSet()
        head = self._font["head"]
        self.units_per_em: int = head.unitsPerEm
        self.font_bbox = (head.xMin, head.yMin, head.xMax, head.yMax)
        self._paths: dict[str, str] = {}

    def _name(self, char: str) -> str:
        try:
            return self._cmap[ord(char)]
        except KeyError:
            raise ValueError(f"DejaVu Sans has no glyph for {char!r}") from None

    def advance(self, char: str) -> int:
        return self._font["hmtx"][self._name(char)][0]

    def bounds(self, char: str) -> tuple[int, int, int, int]:
        glyph = self._font["glyf"][self._name(char)]
        if not glyph.numberOfContours:
            return 0, 0, 0, 0
        glyph.recalcBounds(self._font["glyf"])
        return glyph.xMin, glyph.yMin, glyph.xMax, glyph.yMax

    def advance_of_code(self, code: int) -> int:
        """Advance of a WinAnsiEncoding (cp1252) code; 0 where the code is no character or the font lacks it."""
        try:
            return self.advance(bytes([code]).decode("cp1252"))
        except (UnicodeDecodeError, ValueError):
            return 0

    def path(self, char: str) -> str:
        if char not in self._paths:
            pen = _PathPen(self._glyphs)
            self._glyphs[self._name(char)].draw(pen)
            self._paths[char] = "\n".join(pen.ops)
        return self._paths[char]


@lru_cache(maxsize=1)
def _dejavu() -> _Outlines:
    return _Outlines(DEJAVU_SANS)


class _PdfWriter:
    """Objects numbered in the order added, one page tree, a classic cross-reference table."""

    _CATALOG, _PAGES = 1, 2

    def __init__(self) -> None:
        self._objects: list[bytes | None] = [None, None]  # catalog and page tree, written last
        self._pages: list[int] = []

    def add(self, body: str | bytes) -> int:
        self._objects.append(body.encode("latin-1") if isinstance(body, str) else body)
        return len(self._objects)

    def add_stream(self, data: str | bytes, entries: str = "") -> int:
        raw = data.encode("latin-1") if isinstance(data, str) else data
        if not entries:
            # Content streams and glyph procedures: deflated, as most producers write them.
            raw, entries = zlib.compress(raw), "/Filter /FlateDecode"
        head = f"<< {entries} /Length {len(raw)} >>\nstream\n".encode("latin-1")
        return self.add(head + raw + b"\nendstream")

    def add_page(self, content: str | None, resources: str, *, rotate: int = 0) -> int:
        contents = "" if content is None else f" /Contents {self.add_stream(content)} 0 R"
        page = self.add(
            f"<< /Type /Page /Parent {self._PAGES} 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
            f"/Rotate {rotate} /Resources {resources}{contents} >>"
        )
        self._pages.append(page)
        return page

    def to_bytes(self) -> bytes:
        self._objects[self._CATALOG - 1] = f"<< /Type /Catalog /Pages {self._PAGES} 0 R >>".encode("latin-1")
        kids = " ".join(f"{page} 0 R" for page in self._pages)
        pages = f"<< /Type /Pages /Kids [{kids}] /Count {len(self._pages)} >>"
        self._objects[self._PAGES - 1] = pages.encode("latin-1")
        # The binary comment line tells transfer tools the file is not text.
        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(self._objects, start=1):
            offsets.append(len(out))
            out += f"{number} 0 obj\n".encode("latin-1") + body + b"\nendobj\n"
        xref = len(out)
        out += f"xref\n0 {len(self._objects) + 1}\n0000000000 65535 f \n".encode("latin-1")
        out += b"".join(f"{offset:010d} 00000 n \n".encode("latin-1") for offset in offsets)
        out += f"trailer\n<< /Size {len(self._objects) + 1} /Root {self._CATALOG} 0 R >>\n".encode("latin-1")
        out += f"startxref\n{xref}\n%%EOF\n".encode("latin-1")
        return bytes(out)
