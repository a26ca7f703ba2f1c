"""Pages made for the failure classes of real documents (issue 18), each with the text a reader should get back.

The embedded layout model fails on these in known ways: a three-column newspaper boxed as one table, a financial
statement without rules read as running text, a page of titled equation cards or a letter over a photo taken for a
picture, a printed page on a small sheet, furniture in the margins, words set so tight that OCR runs them together.
Tests assert each is read right; `python -m loadtest.bench structure` scores them against their `truth`.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS = "/usr/share/fonts/truetype/dejavu/"
SANS, SANS_BOLD = FONTS + "DejaVuSans.ttf", FONTS + "DejaVuSans-Bold.ttf"
SERIF, SERIF_BOLD = FONTS + "DejaVuSerif.ttf", FONTS + "DejaVuSerif-Bold.ttf"
SERIF_ITALIC = FONTS + "DejaVuSerif-Italic.ttf"
# US letter at 150 dpi: what a scanner or a phone's document mode hands over.
LETTER_DPI = 150
LETTER = (1275, 1650)
MARGIN = 110

SENTENCES = (
    "The council met on Monday to discuss the new bridge across the river.",
    "Residents asked for a safer crossing near the primary school.",
    "Engineers said the work could start in the spring if the budget allows.",
    "A public hearing will follow before the final vote in June.",
    "Local shops expect more visitors once the road reopens.",
    "The mayor thanked the volunteers who cleaned the riverbank last week.",
    "Traffic will be diverted through the market square during construction.",
    "Several farmers raised concerns about access to their fields.",
    "The plan includes a cycle lane and wider footpaths on both sides.",
    "Funding comes from the regional transport fund and a national grant.",
    "Opponents argue that the old bridge could be repaired at lower cost.",
    "A decision on the design competition is expected before the summer.",
)


@dataclass(frozen=True)
class SamplePage:
    name: str
    png: bytes
    # What the page says, in reading order, without its furniture (page numbers, running header).
    truth: str
    # Text in the margins that must come back labelled as furniture, not as body text.
    furniture: tuple[str, ...] = ()
    # Rows of the table the page holds, cell by cell, when it holds one.
    table: tuple[tuple[str, ...], ...] = ()


def font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def wrap(draw: ImageDraw.ImageDraw, text: str, face: ImageFont.FreeTypeFont, width: float) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and draw.textlength(candidate, font=face) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + ([line] if line else [])


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _paragraphs(
    draw: ImageDraw.ImageDraw, x: float, y: float, width: float, texts: Sequence[str], face: ImageFont.FreeTypeFont,
    leading: float, gap: float,
) -> float:
    """Draws the paragraphs wrapped to `width`; the y below the last."""
    for text in texts:
        for line in wrap(draw, text, face, width):
            draw.text((x, y), line, font=face, fill="black")
            y += leading
        y += gap
    return y


def newspaper() -> SamplePage:
    """A headline over three columns of running text, a running header and a page number in the margins."""
    page = Image.new("RGB", LETTER, "white")
    draw = ImageDraw.Draw(page)
    header, number = "THE RIVERSIDE LEDGER - LOCAL NEWS", "7"
    draw.text((MARGIN, 40), header, font=font(SANS, 20), fill="black")
    headline = "Council backs plan for a new river bridge"
    draw.text((MARGIN, 150), headline, font=font(SERIF_BOLD, 46), fill="black")
    body = font(SERIF, 22)
    width = (LETTER[0] - 2 * MARGIN - 2 * 40) / 3
    columns = [list(SENTENCES[i::3]) * 3 for i in range(3)]
    texts = []
    for c, sentences in enumerate(columns):
        column = [" ".join(sentences[:3]), " ".join(sentences[3:6]), " ".join(sentences[6:9])]
        _paragraphs(draw, MARGIN + c * (width + 40), 260, width, column, body, 31, 22)
        texts += column
    draw.text((LETTER[0] / 2, LETTER[1] - 60), number, font=font(SANS, 20), fill="black")
    return SamplePage("newspaper", _png(page), "\n".join([headline, *texts]), furniture=(header, number))


def financial_table() -> SamplePage:
    """A statement of income without rules: a group-header row over the year columns, numbers right-aligned."""
    page = Image.new("RGB", LETTER, "white")
    draw = ImageDraw.Draw(page)
    title = "Consolidated statement of income"
    draw.text((MARGIN, 130), title, font=font(SANS_BOLD, 36), fill="black")
    intro = ("The statement below shows the results of the group for the last two financial years. "
             "Amounts are in thousands of euros unless stated otherwise.")
    y = _paragraphs(draw, MARGIN, 210, LETTER[0] - 2 * MARGIN, [intro], font(SERIF, 24), 34, 30)
    rows = (
        ("Revenue", "48,210", "44,975"), ("Cost of sales", "31,402", "29,880"), ("Gross profit", "16,808", "15,095"),
        ("Distribution costs", "4,115", "3,960"), ("Administrative expenses", "5,230", "5,012"),
        ("Operating profit", "7,463", "6,123"), ("Finance costs", "812", "790"),
        ("Profit before tax", "6,651", "5,333"), ("Income tax", "1,596", "1,280"),
        ("Profit for the year", "5,055", "4,053"),
    )
    cell = font(SANS, 24)
    right = (LETTER[0] - MARGIN - 260, LETTER[0] - MARGIN)
    group = "Year ended 31 December"
    y += 40
    draw.text((right[1] - draw.textlength(group, font=cell), y), group, font=cell, fill="black")
    y += 46
    for year, edge in zip(("2023", "2022"), right):
        draw.text((edge - draw.textlength(year, font=cell), y), year, font=font(SANS_BOLD, 24), fill="black")
    y += 46
    for label, *figures in rows:
        draw.text((MARGIN, y), label, font=cell, fill="black")
        for figure, edge in zip(figures, right):
            draw.text((edge - draw.textlength(figure, font=cell), y), figure, font=cell, fill="black")
        y += 42
    outro = "The group proposes a dividend of 1.20 euros per share, payable after the annual general meeting."
    _paragraphs(draw, MARGIN, y + 50, LETTER[0] - 2 * MARGIN, [outro], font(SERIF, 24), 34, 30)
    cells = " ".join(" ".join(row) for row in rows)
    truth = "\n".join([title, intro, group, "2023 2022", cells, outro])
    return SamplePage("financial_table", _png(page), truth, table=(("", "2023", "2022"), *rows))


def equation_cards() -> SamplePage:
    """A grid of tinted cards, each a title over an equation and a line saying what it is. Read column by column,
    as a page's regions are (layout/reading_order.py): the grid's columns keep a gutter, its rows no wider a gap
    than the lines inside a card."""
    page = Image.new("RGB", LETTER, "white")
    draw = ImageDraw.Draw(page)
    cards = (
        ("Newton's second law", "F = m a", "Force equals mass times acceleration"),
        ("Ohm's law", "V = I R", "Voltage equals current times resistance"),
        ("Kinetic energy", "E = m v^2 / 2", "Energy of a body in motion"),
        ("Ideal gas law", "p V = n R T", "Pressure and volume of a gas"),
        ("Wave speed", "v = f L", "Speed equals frequency times wavelength"),
        ("Density", "d = m / V", "Mass per unit of volume"),
    )
    gap = 60
    width, height = (LETTER[0] - 2 * MARGIN - gap) / 2, 380
    texts = [[], []]
    for i, (title, equation, note) in enumerate(cards):
        x = MARGIN + (i % 2) * (width + gap)
        y = 160 + (i // 2) * (height + gap)
        draw.rounded_rectangle((x, y, x + width, y + height), radius=24, fill=(226, 236, 248),
                               outline=(90, 120, 170), width=4)
        draw.text((x + 30, y + 30), title, font=font(SANS_BOLD, 34), fill=(20, 40, 90))
        draw.text((x + 30, y + 150), equation, font=font(SERIF_ITALIC, 56), fill="black")
        draw.text((x + 30, y + 300), note, font=font(SANS, 22), fill="black")
        texts[i % 2] += [title, equation, note]
    return SamplePage("equation_cards", _png(page), "\n".join(texts[0] + texts[1]))


def letter_over_photo() -> SamplePage:
    """A letter written in italic over a page-sized photograph."""
    rng = random.Random(18)
    yy, xx = np.mgrid[0:LETTER[1], 0:LETTER[0]]
    photo = np.stack(
        [200 + 40 * np.sin(xx / 170.0), 190 + 45 * np.cos(yy / 210.0), 170 + 30 * np.sin((xx + yy) / 260.0)], -1
    )
    page = Image.fromarray(photo.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(page)
    for _ in range(40):
        x, y, r = rng.randrange(LETTER[0]), rng.randrange(LETTER[1]), rng.randrange(30, 120)
        tone = tuple(rng.randrange(150, 235) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tone)
    page = page.filter(ImageFilter.GaussianBlur(6))
    draw = ImageDraw.Draw(page)
    greeting, closing = "Dear Margaret,", "With love, Anna"
    body = [
        "Thank you for the lovely photographs from the lake. We framed the one of the boats and hung it in the hall.",
        "The garden is finally green again after the long winter, and the apple tree has more blossom than ever.",
        "Please come and visit us in July when the children are home from school.",
    ]
    face = font(SERIF_ITALIC, 34)
    draw.text((MARGIN + 20, 220), greeting, font=face, fill=(20, 20, 60))
    y = _paragraphs(draw, MARGIN + 20, 300, LETTER[0] - 2 * MARGIN - 40, body, face, 52, 36)
    draw.text((MARGIN + 20, y + 30), closing, font=face, fill=(20, 20, 60))
    return SamplePage("letter_over_photo", _png(page), "\n".join([greeting, *body, closing]))


def small_page() -> SamplePage:
    """A printed page on an unusually small sheet (a pocket booklet), at the same type size as a letter page."""
    size = (560, 760)
    page = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(page)
    title = "Care of your new kettle"
    draw.text((40, 50), title, font=font(SANS_BOLD, 28), fill="black")
    body = [
        "Fill the kettle with fresh water before each use and never above the maximum mark.",
        "Descale it once a month in hard water areas with a mixture of water and white vinegar.",
        "Unplug the kettle before cleaning and never put the base in water.",
    ]
    _paragraphs(draw, 40, 120, size[0] - 80, body, font(SERIF, 22), 32, 22)
    return SamplePage("small_page", _png(page), "\n".join([title, *body]))


def tight_spacing() -> SamplePage:
    """Lines set with very little space between words, which OCR tends to read as one run-together word."""
    page = Image.new("RGB", LETTER, "white")
    draw = ImageDraw.Draw(page)
    face = font(SANS, 34)
    lines = [
        "Composition of the pretraining data used for the model",
        "Evaluation of the retrieval system on public benchmarks",
        "Comparison with previous methods on the same test set",
    ]
    y = 200
    for line in lines:
        x = MARGIN
        for word in line.split():
            draw.text((x, y), word, font=face, fill="black")
            x += draw.textlength(word, font=face) + 0.08 * face.size
        y += 60
    return SamplePage("tight_spacing", _png(page), "\n".join(lines))


def newspaper_pdf(pages: int) -> bytes:
    """The newspaper page `pages` times as a PDF of scans (no text layer): seconds of OCR a page, for loads."""
    page = Image.open(io.BytesIO(newspaper().png))
    buffer = io.BytesIO()
    page.save(buffer, format="PDF", save_all=True, append_images=[page] * (pages - 1), resolution=LETTER_DPI)
    return buffer.getvalue()


SAMPLE_PAGES: dict[str, Callable[[], SamplePage]] = {
    make.__name__: make
    for make in (newspaper, financial_table, equation_cards, letter_over_photo, small_page, tight_spacing)
}
