"""Page furniture among text found outside every layout region.

Lines no region holds become text blocks so that none of their text is lost. A page number in the margin or a running
line at the top is furniture, though: labelled `number`, `header` or `footer`, it is dropped from Markdown by default
(`markdownIgnoreLabels`), as it would be had the layout model boxed it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from layout.labels import FOOTER_LABEL, HEADER_LABEL, NUMBER_LABEL, TEXT_LABEL
from layout.types import BBox

# A page number: digits or a lower-case roman numeral (front matter's "iv"; not any word of the letters i, v, x, l, c,
# d, m), maybe between dashes ("- 12 -"), after "Page" or "p.", before "of 20".
_ROMAN = r"m{0,3}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})"
_PAGE_NUMBER = re.compile(
    rf"\s*(?:[Pp]age\s+|p\.\s*)?[-–—]?\s*(?:\d{{1,4}}|(?=[ivxlcdm]){_ROMAN})\s*[-–—]?\s*(?:of\s+\d{{1,4}}\s*)?"
)


@dataclass(frozen=True)
class FurnitureRules:
    # Text lying wholly within this share of the page height from its top or bottom edge sits in the margin, where
    # running headers and footers go; body text starts further in on every common page format.
    margin_share: float = 0.07
    # A lone page number may sit further in (a 1-inch margin is 9% of a letter page, and the number sits inside it):
    # this share of the page from any edge.
    number_share: float = 0.15


def stray_label(bbox: BBox, text: str, page_size: tuple[int, int], rules: FurnitureRules = FurnitureRules()) -> str:
    """The label of a block of text found outside every region: a page number at any edge of the page, a header or
    footer in the top or bottom margin, else `text`."""
    height = page_size[1]
    if _PAGE_NUMBER.fullmatch(text) and _near_an_edge(bbox, page_size, rules.number_share):
        return NUMBER_LABEL
    in_top = bbox[3] <= rules.margin_share * height
    in_bottom = bbox[1] >= (1 - rules.margin_share) * height
    if in_top:
        return HEADER_LABEL
    return FOOTER_LABEL if in_bottom else TEXT_LABEL


def _near_an_edge(bbox: BBox, page_size: tuple[int, int], share: float) -> bool:
    width, height = page_size
    return (
        bbox[3] <= share * height or bbox[1] >= (1 - share) * height
        or bbox[2] <= share * width or bbox[0] >= (1 - share) * width
    )
