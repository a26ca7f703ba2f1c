"""A born-digital PDF page's own text as a recognition source, and when to trust it.

The PDF's text layer gives the exact characters with their boxes for free; OCR only guesses them. But a layer can
lie: fonts without a Unicode map give codes, not letters; a scanned page run through OCR carries invisible text that
may not match the image; text drawn as vector outlines has ink and no layer at all. So the layer answers a region
only where it explains the region: its glyphs are readable, visible and upright, and no glyph-like ink is left
uncovered by them (`layout.ink`). Every other region goes to the recognition engine, exactly as without a layer.

Lines are built here from pdfium's glyphs (`layout.pdf_text`) and then assigned to regions by
`layout.ocr_assign`, the same way OCR lines are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Literal

import numpy as np

from layout.geometry import centre, contains_point, intersection_area, union_box
from layout.ink import unexplained_marks
from layout.ocr_assign import assign_lines
from layout.types import BBox, TextLine

# `auto`: the layer where it can be trusted, the engine elsewhere; `off`: the engine only; `only`: the layer only,
# never the engine (a PDF page without a layer comes back without text; images are still read by the engine).
TextLayerMode = Literal["auto", "off", "only"]
# Reported per page in `model_settings.text_source`.
TextSource = Literal["text_layer", "engine", "mixed", "none"]

# A text-layer line gets full confidence: its characters are what the author wrote.
LAYER_LINE_SCORE = 1.0


@dataclass(frozen=True)
class Glyph:
    """One character of the text layer in rendered-page pixels. A separator (a space or line break, written or
    inferred by pdfium) has no box."""

    char: str
    bbox: BBox | None
    # Maps to a real Unicode character (not a replacement, control or private-use code).
    readable: bool = True
    # Drawn: not the invisible text an OCR'd scan carries over its image.
    visible: bool = True
    # Its baseline runs horizontally on the rendered page.
    upright: bool = True

    @classmethod
    def separator(cls, char: str) -> Glyph:
        return cls(char=char, bbox=None)

    @property
    def trusted(self) -> bool:
        return self.bbox is not None and self.readable and self.visible and self.upright


@dataclass(frozen=True)
class LineRules:
    """How glyphs make lines; in line heights, so they hold at any render scale."""

    # A glyph whose vertical centre is further than this from the previous glyph's starts a new line.
    same_line_offset: float = 0.5
    # A horizontal gap wider than this splits a line: two columns or two table cells on one baseline are two lines,
    # so each lands in its own region.
    max_gap: float = 1.5
    # A gap wider than this between glyphs with no space between them is a word break.
    word_gap: float = 0.25


@dataclass(frozen=True)
class TrustRules:
    """When the layer answers a region (see the module docstring)."""

    # Share of a region's glyphs that may be doubtful (unreadable, invisible, turned) before the region goes to the
    # engine; a stray unmapped symbol in a paragraph should not send it to OCR.
    max_doubtful_share: float = 0.05
    # Glyph-like ink marks left uncovered by the layer that send a region to the engine: a word drawn as outlines is
    # several marks, while a rule, a vector bullet or two or a stray dot are not. A region with many glyphs may
    # leave this share of them in marks (arrows and symbols drawn as paths in a long table) before it counts; the
    # price is that one outlined word inside a long layer paragraph goes unseen.
    max_unexplained_marks: int = 3
    max_unexplained_share: float = 0.05


@dataclass(frozen=True)
class TextLayer:
    """A page's text layer: its trusted text as lines, and where it holds glyphs it cannot vouch for."""

    lines: tuple[TextLine, ...]
    doubtful: tuple[BBox, ...]

    @property
    def empty(self) -> bool:
        return not self.lines and not self.doubtful


@dataclass(frozen=True)
class LayerReading:
    """What the layer says about a page's regions: the lines of each region it can answer for (None where the
    engine must read the region) and its lines outside every region."""

    regions: tuple[tuple[TextLine, ...] | None, ...]
    stray: tuple[TextLine, ...]
    # Whether `stray` is all the text outside every region; False: there is more (turned text, text drawn as
    # outlines, an unmapped font), which only the engine can find.
    stray_complete: bool = True


def text_layer(glyphs: Sequence[Glyph], rules: LineRules = LineRules()) -> TextLayer:
    """Trusted glyphs grouped into lines, in the layer's own order (kept as is: right-to-left text stays in logical
    order); doubtful glyphs kept apart by their boxes."""
    lines: list[TextLine] = []
    doubtful: list[BBox] = []
    boxes: list[BBox] = []
    text = ""
    # The box of the glyph before, trusted or not: a doubtful glyph is left out of the text but still fills its
    # place, so it neither cuts the line in two nor leaves a gap read as a space.
    previous: BBox | None = None
    spaced = False

    def flush() -> None:
        nonlocal boxes, text, previous
        if boxes and text.strip():
            lines.append(TextLine(reduce(union_box, boxes), text.strip(), LAYER_LINE_SCORE))
        boxes, text, previous = [], "", None

    for glyph in glyphs:
        if glyph.bbox is None:
            if glyph.char in "\r\n":
                flush()
            spaced = spaced or glyph.char.isspace()
            continue
        if previous is not None and not _same_line(previous, glyph.bbox, rules):
            flush()
        if not glyph.trusted:
            doubtful.append(glyph.bbox)
        else:
            if boxes and (spaced or _gap(previous, glyph.bbox) > rules.word_gap * _height(glyph.bbox)):
                text += " "
            boxes.append(glyph.bbox)
            text += glyph.char
            spaced = False
        previous = glyph.bbox
    flush()
    return TextLayer(tuple(lines), tuple(doubtful))


def read_regions(
    layer: TextLayer, boxes: Sequence[BBox], ink: np.ndarray | None, rules: TrustRules = TrustRules()
) -> LayerReading:
    """The layer's lines per region, None where it cannot be trusted. `ink` (the page's ink mask, `layout.ink`)
    None: no ink check, every region gets the layer's lines (`only`)."""
    per_box, stray = assign_lines(layer.lines, boxes)
    if ink is None:
        return LayerReading(tuple(tuple(lines) for lines in per_box), tuple(stray))
    regions = tuple(
        tuple(lines) if _explains(layer, box, lines, ink, rules) else None for box, lines in zip(boxes, per_box)
    )
    height, width = ink.shape
    outside = [glyph for glyph in layer.doubtful if not any(contains_point(box, centre(glyph)) for box in boxes)]
    complete = _explains(layer, (0, 0, width, height), stray, ink, rules, doubtful=outside, elsewhere=boxes)
    return LayerReading(regions, tuple(stray), complete)


def _explains(
    layer: TextLayer, box: BBox, lines: Sequence[TextLine], ink: np.ndarray, rules: TrustRules,
    doubtful: Sequence[BBox] | None = None, elsewhere: Sequence[BBox] = (),
) -> bool:
    """Whether `lines` are all the text in `box` (outside the `elsewhere` boxes): the doubtful glyphs there are few,
    and they leave few letter-like marks of ink uncovered."""
    if doubtful is None:
        doubtful = [glyph for glyph in layer.doubtful if contains_point(box, centre(glyph))]
    glyphs = sum(len(line.text.replace(" ", "")) for line in lines)
    if len(doubtful) > rules.max_doubtful_share * (len(doubtful) + glyphs):
        return False
    allowed = max(rules.max_unexplained_marks, rules.max_unexplained_share * glyphs)
    # Every line explains its own ink, also one that went to a caption box nested in this one.
    covering = [line.bbox for line in layer.lines if intersection_area(line.bbox, box) > 0]
    return unexplained_marks(ink, box, covering, elsewhere=elsewhere) <= allowed


def _height(box: BBox) -> float:
    return max(box[3] - box[1], 1.0)


def _gap(a: BBox, b: BBox) -> float:
    """Horizontal distance between two boxes, whichever is left (negative when they overlap)."""
    return max(b[0] - a[2], a[0] - b[2])


def _same_line(previous: BBox, glyph: BBox, rules: LineRules) -> bool:
    height = max(_height(previous), _height(glyph))
    offset = abs((previous[1] + previous[3]) - (glyph[1] + glyph[3])) / 2
    return offset < rules.same_line_offset * height and _gap(previous, glyph) < rules.max_gap * height



