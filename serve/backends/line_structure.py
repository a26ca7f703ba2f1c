"""A page's regions re-read from the text lines inside them, for backends that read a page as lines (OCR, a PDF's
text layer): tables told from running text and header rows kept in their table (layout/table_grid.py), text regions
split into their paragraphs and titles (layout/paragraphs.py), pictures that hold text read as text
(layout/picture_text.py), and text outside every region turned into regions of its own, furniture labelled as such
(layout/furniture.py). The rules are the pure side's; this module applies them, in two steps around the backend's
reading: `as_read` decides how each region is read, `structured` splits the readings into the blocks they hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from layout.furniture import FurnitureRules, stray_label
from layout.geometry import centre, contains_point, union_box
from layout.labels import (
    CHART_LABEL,
    DOC_TITLE_LABEL,
    FORMULA_LABELS,
    IMAGE_LABELS,
    PARAGRAPH_TITLE_LABEL,
    REFERENCE_LABEL,
    SEAL_LABEL,
    TABLE_LABEL,
    TEXT_LABEL,
)
from layout.ocr_assign import block_text, group_stray_lines, union_bbox
from layout.paragraphs import ParagraphRules, Row, body_height, is_doc_title, is_title, paragraphs, text_rows
from layout.picture_text import PictureTextRules, covered_share, keeps_its_text, reads_as_text
from layout.table_grid import TableRules, header_rows, is_grid, is_running_text, text_columns
from layout.types import BBox, TextLine
from serve.backends.base import FoundRegion, Region, RegionReading

# Regions that stay pictures when not read; the text found in one decides whether it is one.
PICTURE_LABELS = FORMULA_LABELS | IMAGE_LABELS | {CHART_LABEL, SEAL_LABEL}
# Regions whose lines, when they form a grid, make them a table the layout model missed: running text it boxed
# around a table (a financial statement read as `text` or `reference`) and a table it took for a picture.
MISSED_TABLE_LABELS = frozenset({TEXT_LABEL, REFERENCE_LABEL}) | IMAGE_LABELS


@dataclass(frozen=True)
class StructureRules:
    """The thresholds of every rule applied here, each with its reason beside it in its module; configurable per
    backend (`recognition.backend_options.structure`)."""

    paragraphs: ParagraphRules = field(default_factory=ParagraphRules)
    picture_text: PictureTextRules = field(default_factory=PictureTextRules)
    furniture: FurnitureRules = field(default_factory=FurnitureRules)
    tables: TableRules = field(default_factory=TableRules)


@dataclass(frozen=True)
class PageLines:
    """A page's regions as their lines say they are read, the lines of each, and the lines outside every region."""

    regions: list[Region]
    lines: list[list[TextLine]]
    stray: list[TextLine]


def as_read(
    regions: Sequence[Region], lines: Sequence[Sequence[TextLine]], stray: Sequence[TextLine],
    rules: StructureRules = StructureRules(),
) -> PageLines:
    """How each region is read, from the lines inside it: a table box over running text in columns is text; a text
    or picture box over a grid of short cells is a table; a table takes the header rows just above its box from the
    lines outside every region."""
    read = [replace(region, label=_read_label(region, found, rules)) for region, found in zip(regions, lines)]
    lines = [list(found) for found in lines]
    stray = list(stray)
    for i, region in enumerate(read):
        if region.label == TABLE_LABEL:
            header = header_rows(region.bbox, lines[i], stray, rules.tables)
            if header:
                read[i] = replace(region, bbox=union_box(region.bbox, union_bbox(header)), polygon=None)
                lines[i] = header + lines[i]
                stray = [line for line in stray if line not in header]
    return PageLines(read, lines, stray)


def _read_label(region: Region, lines: Sequence[TextLine], rules: StructureRules) -> str:
    if region.label == TABLE_LABEL and is_running_text(lines, rules.tables):
        return TEXT_LABEL
    if region.label in MISSED_TABLE_LABELS and lines and is_grid(lines, rules.tables):
        if region.label not in IMAGE_LABELS or covered_share(region.bbox, lines) >= rules.tables.min_picture_coverage:
            return TABLE_LABEL
    return region.label


def structured(
    readings: list[RegionReading], regions: Sequence[Region], lines: Sequence[Sequence[TextLine]],
    page_size: tuple[int, int], rules: StructureRules = StructureRules(), laid_out: Sequence[Region] | None = None,
) -> list[RegionReading]:
    """The readings of `regions` (as read: `as_read`; laid out as `laid_out`, by default the same) with the page's
    structure put back from their `lines`: pictures that are really text read as their paragraphs, and a page-sized
    picture, or any on a page with no other text, keeping the text in it (layout/picture_text.py); text regions
    split into their paragraphs and titles, a refused table's column by column, and the most prominent title near
    the top made the document's (layout/paragraphs.py); a region read as something else than laid out (a table
    found, a table refused, a table with its header rows) shown as read."""
    readings = list(readings)
    laid_out = regions if laid_out is None else laid_out
    # A page whose only text lies in pictures keeps it whatever their size: OCR found it, the Markdown shows it.
    silent = not any(
        reading.content for region, reading in zip(regions, readings) if region.label not in PICTURE_LABELS
    )
    body = body_height([found for region, found in zip(regions, lines) if region.label == TEXT_LABEL])
    parts: list[list[FoundRegion]] = [[] for _ in regions]
    for i, (region, found) in enumerate(zip(regions, lines)):
        unread_picture = region.label in PICTURE_LABELS and not readings[i].content
        if unread_picture and reads_as_text(region.bbox, found, body, rules.picture_text):
            own = body or body_height([found])
            parts[i] = [_paragraph(rows, own, rules) for column in text_columns(found)
                        for rows in paragraphs(column, own, rules.paragraphs)]
        elif unread_picture and found and (silent or keeps_its_text(region.bbox, page_size, rules.picture_text)):
            readings[i] = replace(readings[i], content=block_text(found))
        elif body is not None and region.label == TEXT_LABEL and (
            furniture := _furniture_label(region, found, body, page_size, rules)
        ):
            parts[i] = [FoundRegion(replace(region, label=furniture), readings[i].content)]
        elif body is not None and region.label == TEXT_LABEL:
            columns = text_columns(found) if laid_out[i].label == TABLE_LABEL else [found]
            split = [rows for column in columns for rows in paragraphs(column, body, rules.paragraphs)]
            if len(split) > 1 or (split and is_title(split[0], body, rules.paragraphs)):
                parts[i] = [_paragraph(rows, body, rules) for rows in split]
        elif body is not None and region.label == PARAGRAPH_TITLE_LABEL and found:
            parts[i] = [FoundRegion(region, readings[i].content)]
    titles = [(i, j) for i, found in enumerate(parts) for j, part in enumerate(found)
              if part.region.label == PARAGRAPH_TITLE_LABEL]
    if titles and body is not None:
        i, j = max(titles, key=lambda at: _line_height(lines[at[0]], parts[at[0]][at[1]].region.bbox))
        title = parts[i][j]
        if is_doc_title(_line_height(lines[i], title.region.bbox), title.region.bbox[1], page_size[1], body,
                        rules.paragraphs):
            parts[i][j] = FoundRegion(replace(title.region, label=DOC_TITLE_LABEL), title.content)
    for i, (reading, region) in enumerate(zip(readings, regions)):
        if not parts[i] and region != laid_out[i]:
            parts[i] = [FoundRegion(region, reading.content)]
    return [
        replace(reading, parts=tuple(found)) if found and _changes(region, found) else reading
        for reading, region, found in zip(readings, laid_out, parts)
    ]


def _furniture_label(
    region: Region, lines: Sequence[TextLine], body: float, page_size: tuple[int, int], rules: StructureRules
) -> str | None:
    """The furniture label of a text region of one row, set no larger than the body text, that the furniture rules
    would give it had the layout model not boxed it (a running header, a footer line, a page number); else None."""
    rows = text_rows(lines)
    if len(rows) != 1 or is_title(rows, body, rules.paragraphs):
        return None
    label = stray_label(region.bbox, rows[0].text, page_size, rules.furniture)
    return None if label == TEXT_LABEL else label


def _paragraph(rows: Sequence[Row], body: float, rules: StructureRules) -> FoundRegion:
    lines = [line for row in rows for line in row.lines]
    label = PARAGRAPH_TITLE_LABEL if is_title(rows, body, rules.paragraphs) else TEXT_LABEL
    return FoundRegion(Region(label, union_bbox(lines)), block_text(lines))


def _line_height(lines: Sequence[TextLine], bbox: BBox) -> float:
    """The tallest line of `lines` inside `bbox`: how large a title is set."""
    inside = [line.bbox[3] - line.bbox[1] for line in lines if contains_point(bbox, centre(line.bbox))]
    return max(inside, default=0.0)


def _changes(region: Region, parts: Sequence[FoundRegion]) -> bool:
    return len(parts) > 1 or parts[0].region != region


def found_regions(
    stray: Sequence[TextLine], page_size: tuple[int, int], rules: StructureRules = StructureRules()
) -> list[FoundRegion]:
    """Text outside every layout region as new regions, so none of it is lost: text, or the furniture it is."""
    found = []
    for group in group_stray_lines(stray):
        box, text = union_bbox(group), block_text(group)
        found.append(FoundRegion(Region(stray_label(box, text, page_size, rules.furniture), box), text))
    return found
