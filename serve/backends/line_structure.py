"""A page's regions re-read from the text lines inside them, for backends that read a page as lines (OCR, a PDF's
text layer): text regions split into their paragraphs and titles (layout/paragraphs.py), pictures that hold text
read as text (layout/picture_text.py), and text outside every region turned into regions of its own, furniture
labelled as such (layout/furniture.py). The rules are the pure side's; this module applies them to readings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from layout.furniture import stray_label
from layout.geometry import centre, contains_point
from layout.labels import (
    CHART_LABEL,
    DOC_TITLE_LABEL,
    FORMULA_LABELS,
    IMAGE_LABELS,
    PARAGRAPH_TITLE_LABEL,
    SEAL_LABEL,
    TEXT_LABEL,
)
from layout.ocr_assign import block_text, group_stray_lines, union_bbox
from layout.paragraphs import Row, body_height, is_doc_title, is_title, paragraphs
from layout.picture_text import keeps_its_text, reads_as_text
from layout.types import BBox, TextLine
from serve.backends.base import FoundRegion, Region, RegionReading

# Regions that stay pictures when not read; the text found in one decides whether it is one.
PICTURE_LABELS = FORMULA_LABELS | IMAGE_LABELS | {CHART_LABEL, SEAL_LABEL}


def structured(
    readings: list[RegionReading], regions: Sequence[Region], lines: Sequence[Sequence[TextLine]],
    page_size: tuple[int, int],
) -> list[RegionReading]:
    """The readings with the page's structure put back from the lines inside its regions: pictures that are really
    text read as their paragraphs, and a page-sized picture keeping the text in it (layout/picture_text.py); text
    regions split into their paragraphs and titles, and the most prominent title near the top made the document's
    (layout/paragraphs.py)."""
    readings = list(readings)
    body = body_height([found for region, found in zip(regions, lines) if region.label == TEXT_LABEL])
    parts: list[list[FoundRegion]] = [[] for _ in regions]
    for i, (region, found) in enumerate(zip(regions, lines)):
        unread_picture = region.label in PICTURE_LABELS and not readings[i].content
        if unread_picture and reads_as_text(region.bbox, found, body):
            own = body or body_height([found])
            parts[i] = [_paragraph(rows, own) for rows in paragraphs(found, own)]
        elif unread_picture and found and keeps_its_text(region.bbox, page_size):
            readings[i] = replace(readings[i], content=block_text(found))
        elif body is not None and region.label == TEXT_LABEL:
            split = paragraphs(found, body)
            if len(split) > 1 or (split and is_title(split[0], body)):
                parts[i] = [_paragraph(rows, body) for rows in split]
        elif body is not None and region.label == PARAGRAPH_TITLE_LABEL and found:
            parts[i] = [FoundRegion(region, readings[i].content)]
    titles = [(i, j) for i, found in enumerate(parts) for j, part in enumerate(found)
              if part.region.label == PARAGRAPH_TITLE_LABEL]
    if titles and body is not None:
        i, j = max(titles, key=lambda at: _line_height(lines[at[0]], parts[at[0]][at[1]].region.bbox))
        title = parts[i][j]
        if is_doc_title(_line_height(lines[i], title.region.bbox), title.region.bbox[1], page_size[1], body):
            parts[i][j] = FoundRegion(replace(title.region, label=DOC_TITLE_LABEL), title.content)
    return [
        replace(reading, parts=tuple(found)) if found and _changes(region, found) else reading
        for reading, region, found in zip(readings, regions, parts)
    ]


def _paragraph(rows: Sequence[Row], body: float) -> FoundRegion:
    lines = [line for row in rows for line in row.lines]
    label = PARAGRAPH_TITLE_LABEL if is_title(rows, body) else TEXT_LABEL
    return FoundRegion(Region(label, union_bbox(lines)), block_text(lines))


def _line_height(lines: Sequence[TextLine], bbox: BBox) -> float:
    """The tallest line of `lines` inside `bbox`: how large a title is set."""
    inside = [line.bbox[3] - line.bbox[1] for line in lines if contains_point(bbox, centre(line.bbox))]
    return max(inside, default=0.0)


def _changes(region: Region, parts: Sequence[FoundRegion]) -> bool:
    return len(parts) > 1 or parts[0].region.label != region.label


def found_regions(stray: Sequence[TextLine], page_size: tuple[int, int]) -> list[FoundRegion]:
    """Text outside every layout region as new regions, so none of it is lost: text, or the furniture it is."""
    found = []
    for group in group_stray_lines(stray):
        box, text = union_bbox(group), block_text(group)
        found.append(FoundRegion(Region(stray_label(box, text, page_size), box), text))
    return found
