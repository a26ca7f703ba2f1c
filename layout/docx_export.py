"""The DOCX export of a parsed page or a concatenated document (`outputFormats: ["docx"]`, spec §3.3 `exports`).

The Word document shows what the page's Markdown shows (spec §5.8), in the same order and under the same request
flags: a block appears exactly when Markdown renders it, titles take Markdown's heading levels, and pictures are the
crops of `markdown.images`. Only the form changes: real Word headings, paragraphs, tables and inline pictures.
Formulas stay LaTeX text, as PaddleX's own export ends up writing them (see `_add_block`).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser

import docx
from docx.document import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Length, Mm

from layout.crop import image_path_for
from layout.labels import (
    ALGORITHM_LABEL,
    CAPTION_LABELS,
    CHART_LABEL,
    CONTENT_LABEL,
    FORMULA_LABELS,
    INLINE_FORMULA_LABEL,
    SEAL_LABEL,
    TABLE_LABEL,
    TITLE_LABELS,
)
from layout.markdown import MarkdownOptions, is_picture, render_block, title_heading
from layout.types import Block

# PaddleX lays its export out on A4 paper; the template's own margins are kept.
PAGE_WIDTH = Mm(210)
PAGE_HEIGHT = Mm(297)
# Word's built-in heading styles stop at "Heading 9"; deeper Markdown levels share it.
MAX_HEADING_LEVEL = 9
# A picture in a table cell fills this share of its column, leaving room for the cell's margins (as PaddleX does).
CELL_PICTURE_SHARE = 0.9
# HTML's own upper bound on `colspan`; it also keeps a hostile span from building a huge Word table.
MAX_COLSPAN = 1000
# Zip entry times and the document's created/modified dates: fixed, so equal input gives byte-identical output
# (cacheable, testable). 1980-01-01 is the earliest time a zip entry can carry.
FIXED_TIME = datetime(1980, 1, 1, tzinfo=timezone.utc)
_ZIP_TIME = FIXED_TIME.timetuple()[:6]
_WHITESPACE = re.compile(r"\s+")

# Labels whose lines belong together in one paragraph, each line ending in a line break: table-of-contents entries
# (Markdown hard breaks) and the lines of an algorithm.
LINE_BROKEN_LABELS: frozenset[str] = frozenset({CONTENT_LABEL, ALGORITHM_LABEL})
# A seal reaches text form only when layout detection is off (otherwise it is a picture); Markdown centres it
# like a caption.
CENTRED_TEXT_LABELS: frozenset[str] = CAPTION_LABELS | {SEAL_LABEL}
# Markdown renders both as an HTML table (a chart's recognised data included); their Word form is a table.
TABLE_LIKE_LABELS: frozenset[str] = frozenset({TABLE_LABEL, CHART_LABEL})


def document_docx(
    blocks: Sequence[Block], images: Mapping[str, bytes], page_width: int, *, markdown: MarkdownOptions
) -> bytes:
    """The DOCX file of `blocks` (one page's, or a concatenated document's, in reading order).

    `images` maps each picture block's `imgs/…` path to its image bytes (the JPEG crops of `markdown.images`);
    a picture missing there is left out. `page_width` is the width in pixels of the page the boxes were measured
    on (for a concatenated document, PaddleX takes the first page's): a picture keeps its share of the page width.
    `markdown` holds the request's Markdown flags (`markdownIgnoreLabels`, `showFormulaNumber`, layout detection),
    so the document shows what the Markdown shows. An image that is no picture format Word knows raises
    `docx.image.exceptions.UnrecognizedImageError`.
    """
    if page_width <= 0:
        raise ValueError(f"page_width must be positive, got {page_width}")
    document = docx.Document()
    section = document.sections[0]
    section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
    text_width = Length(section.page_width - section.left_margin - section.right_margin)
    for index, block in enumerate(blocks):
        if block.label in markdown.ignore_labels:
            continue
        next_block = blocks[index + 1] if index + 1 < len(blocks) else None
        # Markdown decides which blocks show (empty content, `formula_number`) and how formulas and charts read.
        rendering = render_block(block, page_width, markdown, next_block)
        if rendering.strip():
            _add_block(document, block, rendering, images, page_width, text_width, markdown)
    return _deterministic_bytes(document)


def _add_block(
    document: Document,
    block: Block,
    rendering: str,
    images: Mapping[str, bytes],
    page_width: int,
    text_width: Length,
    markdown: MarkdownOptions,
) -> None:
    """Append one block in its Word form; `rendering` is its Markdown."""
    label = block.label
    if is_picture(block, markdown):
        # The path is a pure function of label and box, so blocks rebuilt without it still find their crop.
        picture = images.get(block.image_path or image_path_for(label, block.bbox))
        if picture is not None:
            x1, _, x2, _ = block.bbox
            share = min(1.0, (x2 - x1) / page_width)
            paragraph = document.add_paragraph()
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            paragraph.add_run().add_picture(io.BytesIO(picture), width=Length(int(text_width * share)))
        # Text read from the picture (OCR of an image block, a recognised seal) goes under it, as in Markdown.
        _add_lines(document, block.content)
    elif label in TITLE_LABELS:
        text, level = title_heading(block)
        document.add_heading(text, min(level, MAX_HEADING_LEVEL))
    elif label in TABLE_LIKE_LABELS:
        _add_table(document, rendering, images, text_width)
    elif label in FORMULA_LABELS:
        # LaTeX as text, `\tag*{n}` included when numbered: PaddleX 3.7.2 tries LaTeX → OMML, but its wheel lacks
        # the MML2OMML stylesheet, so it always falls back to this same text.
        paragraph = document.add_paragraph(rendering.strip())
        if label != INLINE_FORMULA_LABEL:
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    elif label in CENTRED_TEXT_LABELS:
        _add_lines(document, block.content, WD_ALIGN_PARAGRAPH.CENTER)
    elif label in LINE_BROKEN_LABELS:
        # python-docx writes each "\n" as a line break inside the paragraph.
        document.add_paragraph(block.content.strip())
    else:
        _add_lines(document, block.content)


def _add_lines(document: Document, text: str, alignment: WD_ALIGN_PARAGRAPH | None = None) -> None:
    """One paragraph per non-empty line, as Markdown makes each recognised line its own paragraph."""
    for line in text.splitlines():
        if line.strip():
            document.add_paragraph(line.strip()).alignment = alignment


# --- tables -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CellPicture:
    """An `<img>` in a table cell: a figure the table absorbed (spec §5.4 step 4)."""

    src: str


@dataclass
class _HtmlCell:
    """One `<td>`/`<th>`: its spans and its content, text and pictures in document order."""

    colspan: int
    rowspan: int
    pieces: list[str | _CellPicture] = field(default_factory=list)

    def add_text(self, text: str) -> None:
        if self.pieces and isinstance(self.pieces[-1], str):
            self.pieces[-1] += text
        else:
            self.pieces.append(text)


class _TableParser(HTMLParser):
    """The rows (`<tr>`) of table HTML and their cells, and the text found outside any cell."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[_HtmlCell]] = []
        self.loose_text: list[str] = []
        self._cell: _HtmlCell | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "tr":
            self.rows.append([])
            self._cell = None
        elif tag in ("td", "th"):
            if not self.rows:  # a cell before any <tr>: the row is implied, as browsers read it
                self.rows.append([])
            self._cell = _HtmlCell(
                colspan=min(_span(attributes.get("colspan")), MAX_COLSPAN), rowspan=_span(attributes.get("rowspan"))
            )
            self.rows[-1].append(self._cell)
        elif self._cell is not None and tag == "br":
            self._cell.add_text("\n")
        elif self._cell is not None and tag == "img" and attributes.get("src"):
            self._cell.pieces.append(_CellPicture(str(attributes["src"])))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th", "tr"):
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.add_text(data)
        else:
            self.loose_text.append(data)


def _span(value: str | None) -> int:
    """A `colspan`/`rowspan` value; missing, malformed or below 1 counts as 1, as browsers read it."""
    try:
        return max(1, int(value or ""))
    except ValueError:
        return 1


@dataclass(frozen=True)
class _Placement:
    row: int
    column: int
    rowspan: int
    colspan: int
    cell: _HtmlCell


def _place(rows: list[list[_HtmlCell]]) -> tuple[list[_Placement], int]:
    """Each cell's grid position under the HTML table model, and the number of columns.

    A cell takes the first column its row has free (cells spanning down from above hold theirs). Spans are clipped
    so merged areas never overlap: a rowspan at the last row, a colspan at the next column already held.
    """
    held: set[tuple[int, int]] = set()
    placements: list[_Placement] = []
    for r, row in enumerate(rows):
        c = 0
        for cell in row:
            while (r, c) in held:
                c += 1
            colspan = 1
            while colspan < cell.colspan and (r, c + colspan) not in held:
                colspan += 1
            rowspan = min(cell.rowspan, len(rows) - r)
            held.update((r + dr, c + dc) for dr in range(rowspan) for dc in range(colspan))
            placements.append(_Placement(r, c, rowspan, colspan, cell))
            c += colspan
    columns = max((c for _, c in held), default=-1) + 1
    return placements, columns


def _add_table(document: Document, table_html: str, images: Mapping[str, bytes], text_width: Length) -> None:
    """Append `table_html` as a gridded Word table with its merged cells.

    Columns share the text width equally; an absorbed figure shows as its picture from `images`. Without any cell
    (recognition kept an answer that is no table), the text outside tags becomes paragraphs, so it is not lost.
    """
    parser = _TableParser()
    parser.feed(table_html)
    parser.close()
    placements, columns = _place(parser.rows)
    if not placements:
        _add_lines(document, "".join(parser.loose_text))
        return
    table = document.add_table(rows=len(parser.rows), cols=columns)
    table.style = "Table Grid"
    # Cell objects are taken once before merging: looking each up in the table walks the whole grid.
    grid = [row.cells for row in table.rows]
    picture_width = Length(int(text_width / columns * CELL_PICTURE_SHARE))
    for placed in placements:
        cell = grid[placed.row][placed.column]
        if placed.rowspan > 1 or placed.colspan > 1:
            cell = cell.merge(grid[placed.row + placed.rowspan - 1][placed.column + placed.colspan - 1])
        paragraph = cell.paragraphs[0]
        for piece in placed.cell.pieces:
            if isinstance(piece, _CellPicture):
                if piece.src in images:
                    paragraph.add_run().add_picture(io.BytesIO(images[piece.src]), width=picture_width)
            elif text := _tidy(piece):
                paragraph.add_run(text)


def _tidy(text: str) -> str:
    """Cell text as a browser shows it: whitespace runs read as one space; lines (`<br>`) kept, empty ones dropped."""
    lines = (_WHITESPACE.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


# --- packaging --------------------------------------------------------------------------------------------------


def _deterministic_bytes(document: Document) -> bytes:
    """The saved document with fixed dates: python-docx stamps each zip entry with the current time."""
    document.core_properties.created = FIXED_TIME
    document.core_properties.modified = FIXED_TIME
    saved = io.BytesIO()
    document.save(saved)
    restamped = io.BytesIO()
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(restamped, "w") as target:
        for entry in source.infolist():
            restamped_entry = zipfile.ZipInfo(entry.filename, date_time=_ZIP_TIME)
            target.writestr(restamped_entry, source.read(entry), compress_type=zipfile.ZIP_DEFLATED)
    return restamped.getvalue()
