"""Per-page Markdown assembly (spec §5.8), a concatenated document's Markdown (spec §3.5) and the
`formatBlockContent` rendering (spec §2).

Every function is pure: blocks come in already recognised and in reading order, Markdown text goes out.
Image-like blocks refer to their crop by `Block.image_path`, the key the caller uses in `markdown.images`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from layout.crop import image_path_for
from layout.labels import (
    ABSTRACT_LABEL,
    ALGORITHM_LABEL,
    CAPTION_LABELS,
    CHART_LABEL,
    CONTENT_LABEL,
    DEFAULT_MARKDOWN_IGNORE_LABELS,
    DOC_TITLE_LABEL,
    FORMULA_LABELS,
    FORMULA_NUMBER_LABEL,
    IMAGE_LABELS,
    PARAGRAPH_LABELS,
    PARAGRAPH_TITLE_LABEL,
    SEAL_LABEL,
    TABLE_LABEL,
    TITLE_LABELS,
)
from layout.restructure import Page
from layout.types import Block

BLOCK_SEPARATOR = "\n\n"
PARAGRAPH_BREAK = "\n\n"
# Two trailing spaces: a Markdown hard line break, keeping table-of-contents entries on their own lines.
HARD_LINE_BREAK = "  \n"
# A Markdown heading has at most six `#`.
MAX_HEADING_MARKS = 6
# The document title is the single `#` heading; paragraph titles start one level below it.
DOC_TITLE_LEVEL = 0
PERCENT = 100

# Blocks that become a picture when recognition left them without content (chart recognition off, or the VLM
# returned nothing for a formula).
PICTURE_WHEN_EMPTY_LABELS: frozenset[str] = frozenset({CHART_LABEL}) | FORMULA_LABELS
ABSTRACT_HEADINGS: frozenset[str] = frozenset({"abstract", "摘要"})

CENTER_DIV = '<div style="text-align: center;">{}</div>'
PRETTY_IMAGE = '<img src="{src}" alt="Image" width="{percent}%" />'
PLAIN_IMAGE = "![]({src})"
PRETTY_TABLE_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("border", "1"),
    ("style", "margin: auto; word-wrap: break-word;"),
)
PRETTY_CELL_ATTRIBUTES: tuple[tuple[str, str], ...] = (("style", "text-align: center; word-wrap: break-word;"),)

SOFT_HYPHEN = "\u00ad"
_LINE_END_HYPHEN = re.compile(r"-[ \t]*\n\s*")
_LINE_BREAKS = re.compile(r"\s*\n\s*")
_NEWLINE_RUN = re.compile(r"\n+")
_DOCUMENT_WRAPPER_TAG = re.compile(r"</?(?:html|body)\b[^>]*>", re.IGNORECASE)
_TABLE_TAG = re.compile(r"<table\b([^>]*)>", re.IGNORECASE)
_CELL_TAG = re.compile(r"<(td|th)\b([^>]*)>", re.IGNORECASE)
_ATTRIBUTE_NAME = re.compile(r"([\w-]+)\s*=")
# A chart line such as `---|:---:` separating a Markdown-style header row from the data rows.
_CHART_RULE_LINE = re.compile(r"^[\s|:]*-[\s|:-]*$")

# Leading section numbering of a paragraph title (spec §5.8 heuristic). Only dotted decimal numbering
# (`2.1`, `A.1`) nests; every other style counts as a first-level section. A dotted number must be followed
# by a separator or a space, so words such as "3D" are not numbering; a separator never precedes a digit,
# so "2.1Data" is not read as "2." + "1Data".
_CN_NUMERALS = "一二三四五六七八九十百千零〇"
_DOTTED_NUMBERING = re.compile(
    r"^(?P<num>(?:[A-Z][.．])?\d+(?:\s*[.．]\s*\d+)*)(?:(?P<sep>[.．、:：)）])(?!\d)|(?=\s|$))"
)
_BRACKETED_NUMBERING = re.compile(rf"^(?P<num>[(（](?:\d+|[{_CN_NUMERALS}]+|[IVXLC]+)[)）])")
_CN_CHAPTER_NUMBERING = re.compile(rf"^(?P<num>第[{_CN_NUMERALS}\d]+(?:章|节|部分|篇))(?P<sep>[、.．:：]?)")
_CN_NUMBERING = re.compile(rf"^(?P<num>[{_CN_NUMERALS}]+)(?P<sep>[、.．:：])")
_ROMAN_NUMBERING = re.compile(r"^(?P<num>[IVXLC]+)(?P<sep>[.．、)）])")
_NUMBERING_STYLES = (
    _DOTTED_NUMBERING,
    _BRACKETED_NUMBERING,
    _CN_CHAPTER_NUMBERING,
    _CN_NUMBERING,
    _ROMAN_NUMBERING,
)
FULLWIDTH_DOT = "．"
_NUMBER_SPACING = re.compile(r"\s+")


@dataclass(frozen=True)
class MarkdownOptions:
    """Request flags that shape Markdown: `prettifyMarkdown`, `showFormulaNumber`, `markdownIgnoreLabels`, and
    whether the blocks came from layout detection (without it the page is one block, read as text)."""

    prettify: bool = True
    show_formula_number: bool = False
    ignore_labels: frozenset[str] = frozenset(DEFAULT_MARKDOWN_IGNORE_LABELS)
    layout_detection: bool = True


def is_picture(block: Block, options: MarkdownOptions) -> bool:
    """Whether Markdown shows the block as its crop (spec §5.8): image labels always, a seal found by layout
    detection always (with its text under it when recognised), charts and formulas when nothing recognised them."""
    if block.label == SEAL_LABEL:
        return options.layout_detection
    return block.label in IMAGE_LABELS or (block.label in PICTURE_WHEN_EMPTY_LABELS and not block.content.strip())


def render_page(blocks: Sequence[Block], page_width: int, options: MarkdownOptions) -> str:
    """Markdown of one page: blocks in the given (reading) order, non-empty renderings joined by a blank line.

    Labels in `options.ignore_labels` are left out, and so is `formula_number`, whose only use is the
    `\\tag*` of the formula right before it.
    """
    parts: list[str] = []
    for index, block in enumerate(blocks):
        if block.label in options.ignore_labels or block.label == FORMULA_NUMBER_LABEL:
            continue
        next_block = blocks[index + 1] if index + 1 < len(blocks) else None
        rendering = render_block(block, page_width, options, next_block)
        if rendering.strip():
            parts.append(rendering)
    return BLOCK_SEPARATOR.join(parts)


def render_document(pages: Sequence[Page], options: MarkdownOptions) -> str:
    """Markdown of several pages read as one document (`concatenatePages`): the pages' Markdown in order,
    joined like blocks are. As in PaddleX, a paragraph cut by a page break stays two paragraphs; each block's
    picture is sized against its own page."""
    rendered = (render_page(page.blocks, page.width, options) for page in pages)
    return BLOCK_SEPARATOR.join(text for text in rendered if text)


def format_block_content(
    block: Block, page_width: int, options: MarkdownOptions, next_block: Block | None = None
) -> str:
    """Value of `block_content` under `formatBlockContent`: the block's prettified Markdown.

    Ignore labels do not apply (the block is still listed in `prunedResult`). A `formula_number` has no
    Markdown of its own, so it keeps its recognised text rather than being blanked.
    """
    if block.label == FORMULA_NUMBER_LABEL:
        return block.content
    return render_block(block, page_width, replace(options, prettify=True), next_block)


def render_block(
    block: Block, page_width: int, options: MarkdownOptions, next_block: Block | None = None
) -> str:
    """Markdown of one block per the spec §5.8 table; "" when the block shows nothing.

    `next_block` is the block that follows in reading order; a `formula_number` there numbers a formula
    when `options.show_formula_number` is on.
    """
    if page_width <= 0:
        raise ValueError(f"page_width must be positive, got {page_width}")
    label = block.label
    content = block.content
    if is_picture(block, options):
        return _render_picture(block, page_width, options)
    if label == FORMULA_NUMBER_LABEL or not content.strip():
        return ""
    if label in TITLE_LABELS:
        return _heading(*title_heading(block))
    if label == ABSTRACT_LABEL:
        return _render_abstract(content)
    if label in PARAGRAPH_LABELS:
        return _paragraphs(content)
    if label == CONTENT_LABEL:
        return _NEWLINE_RUN.sub(HARD_LINE_BREAK, content.strip())
    if label == ALGORITHM_LABEL:
        return content.strip()
    # A seal read without layout detection (`promptLabel: seal`) is the page's text, shown like a caption.
    if label in CAPTION_LABELS or label == SEAL_LABEL:
        return CENTER_DIV.format(content.strip()) if options.prettify else content.strip()
    if label in FORMULA_LABELS:
        return _render_formula(content, next_block, options)
    if label == TABLE_LABEL:
        return "\n" + _render_table_html(content, options.prettify)
    if label == CHART_LABEL:
        rows = _chart_rows(content)
        if not rows:
            # Output with no data lines is no table; the chart stays visible as a bare picture.
            return _render_picture(replace(block, content=""), page_width, options)
        return _render_chart_table(rows, options.prettify)
    # number, footnote, header, footer, aside_text and labels unknown to this table: plain text.
    return content.strip()


def _render_picture(block: Block, page_width: int, options: MarkdownOptions) -> str:
    """The block's crop as an image (centred, width relative to the page, when pretty) plus any text it has."""
    # The path is a pure function of label and box, so falling back to it still matches `markdown.images`.
    src = block.image_path or image_path_for(block.label, block.bbox)
    if options.prettify:
        x1, _, x2, _ = block.bbox
        percent = int((x2 - x1) / page_width * PERCENT)
        picture = CENTER_DIV.format(PRETTY_IMAGE.format(src=src, percent=percent))
    else:
        picture = PLAIN_IMAGE.format(src=src)
    if not block.content.strip():
        return picture
    return picture + PARAGRAPH_BREAK + _paragraphs(block.content)


def _paragraphs(text: str) -> str:
    """Each recognised line becomes its own Markdown paragraph (runs of newlines → one blank line)."""
    return _NEWLINE_RUN.sub(PARAGRAPH_BREAK, text.strip())


def _single_line(text: str) -> str:
    """Join a wrapped title into one line: soft hyphens (U+00AD, or `-` before a line break) are removed
    together with the break, other line breaks become one space."""
    text = text.replace(SOFT_HYPHEN, "")
    text = _LINE_END_HYPHEN.sub("", text.strip())
    return _LINE_BREAKS.sub(" ", text)


def title_heading(block: Block) -> tuple[str, int]:
    """A title block's text as Markdown shows it, and its level: the heading is `#` × (level + 1).

    `doc_title` is level 0. A `paragraph_title` takes `block.title_level` when cross-page restructuring set
    one, else the level its numbering implies. Exporters of other formats use this so their levels agree
    with the Markdown.
    """
    if block.label == DOC_TITLE_LABEL:
        return _single_line(block.content), DOC_TITLE_LEVEL
    if block.label != PARAGRAPH_TITLE_LABEL:
        raise ValueError(f"{block.label!r} is not a title label")
    text, level = _normalise_title_numbering(_single_line(block.content))
    return text, level if block.title_level is None else block.title_level


def _heading(text: str, level: int) -> str:
    """`#` × (level + 1) heading; deeper levels are clamped to Markdown's six."""
    return "#" * min(level + 1, MAX_HEADING_MARKS) + " " + text


def _normalise_title_numbering(title: str) -> tuple[str, int]:
    """Return the title with its leading numbering normalised, and its level (1 + dots inside the number).

    Normalising removes spaces inside a dotted number (`1 . 2` → `1.2`), maps full-width dots to `.`, and
    leaves exactly one space between the numbering and the title text. A trailing separator (`1.`, `IV.`,
    `一、`) is kept but not counted as a level. Titles without recognised numbering are level 1.
    """
    for pattern in _NUMBERING_STYLES:
        match = pattern.match(title)
        if match is None:
            continue
        number = _NUMBER_SPACING.sub("", match["num"]).replace(FULLWIDTH_DOT, ".")
        numbering = number + (match.groupdict().get("sep") or "")
        rest = title[match.end() :].strip()
        return (f"{numbering} {rest}" if rest else numbering), 1 + number.count(".")
    return title, 1


def _render_abstract(content: str) -> str:
    """Turn a leading "Abstract"/"摘要" word into a `##` heading line above the abstract text."""
    first_word, *rest = content.split(maxsplit=1)
    if first_word.lower() not in ABSTRACT_HEADINGS:
        return content.strip()
    return f"## {first_word}\n{rest[0].rstrip()}" if rest else f"## {first_word}"


def _render_formula(content: str, next_block: Block | None, options: MarkdownOptions) -> str:
    """Formula content as recognised (` $$ … $$ `); numbered `$$latex \\tag*{n}$$` when asked and a
    `formula_number` follows directly."""
    if not options.show_formula_number or next_block is None or next_block.label != FORMULA_NUMBER_LABEL:
        return content
    number = next_block.content.strip().strip("$").strip()
    if not number:
        return content
    latex = content.strip().strip("$").strip()
    return f"$${latex} \\tag*{{{number}}}$$"


def _with_attributes(tag: str, existing: str, attributes: tuple[tuple[str, str], ...]) -> str:
    """Re-emit an opening tag, adding each attribute it does not already set (existing ones win)."""
    present = {name.lower() for name in _ATTRIBUTE_NAME.findall(existing)}
    added = "".join(f' {name}="{value}"' for name, value in attributes if name not in present)
    return f"<{tag}{added}{existing}>"


def _render_table_html(content: str, prettify: bool) -> str:
    """Table HTML without `<html>`/`<body>` wrappers; when pretty, bordered, centred and word-wrapping."""
    table = _DOCUMENT_WRAPPER_TAG.sub("", content).strip()
    if not prettify:
        return table
    table = _TABLE_TAG.sub(lambda m: _with_attributes("table", m.group(1), PRETTY_TABLE_ATTRIBUTES), table)
    return _CELL_TAG.sub(
        lambda m: _with_attributes(m.group(1).lower(), m.group(2), PRETTY_CELL_ATTRIBUTES), table
    )


def _chart_rows(content: str) -> list[list[str]]:
    """Rows of chart recognition output: one per non-empty line, cells split on `|`, rule lines dropped."""
    lines = content.splitlines()
    return [_chart_cells(line) for line in lines if line.strip() and not _CHART_RULE_LINE.match(line)]


def _chart_cells(line: str) -> list[str]:
    """HTML-escaped cells of one chart line; outer pipes (`| a | b |`) do not make empty edge cells."""
    cells = line.strip().split("|")
    if len(cells) > 1 and not cells[0].strip():
        cells = cells[1:]
    if len(cells) > 1 and not cells[-1].strip():
        cells = cells[:-1]
    return [html.escape(cell.strip(), quote=False) for cell in cells]


def _render_chart_table(rows: list[list[str]], prettify: bool) -> str:
    """Chart rows as an HTML table whose first row is the `<thead>`."""
    head, body = rows[0], rows[1:]
    head_html = "<thead><tr>" + "".join(f"<th>{cell}</th>" for cell in head) + "</tr></thead>"
    body_html = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in body)
    return _render_table_html(f"<table>{head_html}<tbody>{body_html}</tbody></table>", prettify)
