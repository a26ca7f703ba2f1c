"""Differential tests of cross-page restructuring (layout/restructure.py) against PaddleX 3.7.2's
`restructure_pages`, fed the same `prunedResult`s as `/restructure-pages` would be.

Seeded random documents: tables that a page break splits or not (repeating their header or not, of another
width or column count), page furniture around them, and paragraph titles numbered in every style PaddleX knows,
printed in a few font sizes. A failure prints the seed's pages.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from layout.labels import DEFAULT_MARKDOWN_IGNORE_LABELS, SKIP_ORDER_LABELS
from layout.markdown import MarkdownOptions, render_document, render_page
from layout.restructure import Page, concatenate_pages, page_from_pruned_result, restructure_pages

CASES = 200
PAGE_WIDTH, PAGE_HEIGHT = 1000, 1400
MODEL_SETTINGS = {
    "use_doc_preprocessor": False,
    "use_layout_detection": True,
    "use_chart_recognition": False,
    "use_seal_recognition": False,
    "use_ocr_for_image_block": False,
    "format_block_content": False,
    "merge_layout_blocks": True,
    "markdown_ignore_labels": list(DEFAULT_MARKDOWN_IGNORE_LABELS),
    "return_layout_polygon_points": False,
}
UNORDERED = SKIP_ORDER_LABELS | set(DEFAULT_MARKDOWN_IGNORE_LABELS)
# Titles in canonical spacing, so that the text our Markdown shows equals PaddleX's (see test_restructure.py for
# the one way ours differs: we normalise the numbering of a re-levelled title too).
TITLES = [
    "1 Introduction", "2 Method", "2.1 Data", "2.2 Training", "3.1.2 Details", "1. Scope", "(1) Setup",
    "（2） 实验", "IV. Results", "ii) Notes", "一、 总则", "第三章 方法", "A. Proofs", "b) Extra", "References",
    "Related Work", "Conclusion:", "Our approach", "3D scenes", "Appendix",
]  # fmt: skip
FONT_SIZES = (18, 24, 30, 38)
HEADER_WORDS = ["Name", "Year", "Total", "Ｔｏｔａｌ", "R&amp;D", "a &lt; b", "Σ x"]
CELL_WORDS = ["1", "2024", "x", "€ 5", "cell text", "&quot;q&quot;"]
# Blocks that may precede a table at the top of a page, and follow one at the bottom; some block a merge.
PRECEDERS = ["header", "header_image", "number", "seal", "text", "figure_title"]
FOLLOWERS = ["footer", "footnote", "number", "vision_footnote", "footer_image", "text"]
HEADING_LINE = re.compile(r"^#+ .*$", re.MULTILINE)
BELOW_TOP_LEVEL_TITLE = re.compile(r"^ (?=\S)", re.MULTILINE)


class Document:
    """Builds pages of prunedResult blocks top to bottom."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pages: list[list[dict[str, Any]]] = []
        self.y = 0

    def new_page(self) -> None:
        self.pages.append([])
        self.y = 20

    def add(self, label: str, content: str, height: int, x1: int = 100, x2: int = 900) -> None:
        self.pages[-1].append(
            {"block_label": label, "block_content": content, "block_bbox": [x1, self.y, x2, self.y + height]}
        )
        self.y += height + 10

    def title(self) -> None:
        text = self.rng.choice(TITLES)
        lines = self.rng.choice([1, 1, 1, 2])
        if lines == 2:
            text = text.replace(" ", "\n", 1) if " " in text else text
        size = self.rng.choice(FONT_SIZES) + self.rng.choice([-1, 0, 0, 1])
        heading = self.rng.choice(["", "", "## "])  # as `formatBlockContent` left it
        self.add("paragraph_title", heading + text, size * (text.count("\n") + 1), x2=self.rng.randint(300, 900))

    def table(self, header: list[list[tuple[str, int]]], columns: int, x2: int, rows: int) -> None:
        body = [[(self.rng.choice(CELL_WORDS), 1) for _ in range(columns)] for _ in range(rows)]
        self.add("table", table_html(header + body), 40 * (len(header) + rows), x2=x2)


def table_html(rows: list[list[tuple[str, int]]]) -> str:
    def cell(text: str, colspan: int) -> str:
        return f'<td colspan="{colspan}">{text}</td>' if colspan > 1 else f"<td>{text}</td>"

    return "<table>" + "".join("<tr>" + "".join(cell(*c) for c in row) + "</tr>" for row in rows) + "</table>"


def header_rows(rng: random.Random, columns: int) -> list[list[tuple[str, int]]]:
    rows = []
    for _ in range(rng.choice([0, 1, 1, 2])):
        if columns > 2 and rng.random() < 0.3:  # a spanning group header
            rows.append([(rng.choice(HEADER_WORDS), 2)] + [(rng.choice(HEADER_WORDS), 1)] * (columns - 2))
        else:
            rows.append([(rng.choice(HEADER_WORDS), 1) for _ in range(columns)])
    return rows


def repeated(rng: random.Random, header: list[list[tuple[str, int]]]) -> list[list[tuple[str, int]]]:
    """The header as the next page prints it: all of it, part of it, none, or with cosmetic differences."""
    mode = rng.choice(["all", "all", "part", "none", "respaced"])
    if mode == "part":
        return header[: rng.randint(0, len(header))]
    if mode == "none":
        return []
    if mode == "respaced":
        return [[(text.replace("Total", "Ｔｏｔａｌ").replace("Σ x", "Σx"), span) for text, span in row] for row in header]
    return header


def document(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    doc = Document(rng)
    open_table: tuple[list[list[tuple[str, int]]], int, int] | None = None  # header, columns, right edge
    for _ in range(rng.randint(2, 4)):
        doc.new_page()
        for label in rng.sample(PRECEDERS, rng.choice([0, 0, 1, 2])):
            doc.add(label, rng.choice(["Page 3", "Table 2", "Annual report"]), 30)
        if open_table is not None and rng.random() < 0.8:
            header, columns, x2 = open_table
            if rng.random() < 0.2:
                columns += rng.choice([-1, 1])
            if rng.random() < 0.2:
                x2 = rng.choice([x2 - 40, x2 - 200])  # within 10 %, or not
            doc.table(repeated(rng, header) if columns == open_table[1] else [], columns, x2, rng.randint(0, 3))
        if rng.random() < 0.3:
            doc.add("doc_title", "A Report", 50)
        for _ in range(rng.randint(0, 4)):
            if rng.random() < 0.6:
                doc.title()
            else:
                doc.add("text", "Some text\non two lines", 60)
        open_table = None
        if rng.random() < 0.6:
            columns = rng.randint(2, 4)
            header, x2 = header_rows(rng, columns), rng.choice([900, 860])
            doc.table(header, columns, x2, rng.randint(0, 3))
            open_table = (header, columns, x2)
            for label in rng.sample(FOLLOWERS, rng.choice([0, 0, 1, 2])):
                doc.add(label, "p. 3", 30)
    return [pruned(blocks, len(doc.pages)) for blocks in doc.pages]


def pruned(blocks: list[dict[str, Any]], page_count: int) -> dict[str, Any]:
    order = 0
    for index, block in enumerate(blocks):
        block["block_id"] = block["group_id"] = index
        if index and block["block_label"] == blocks[index - 1]["block_label"] == "text":  # recognised together
            block["group_id"] = blocks[index - 1]["group_id"]
        block["block_order"] = None
        if block["block_label"] not in UNORDERED:
            order += 1
            block["block_order"] = order
    return {
        "page_count": page_count,
        "width": PAGE_WIDTH,
        "height": PAGE_HEIGHT,
        "model_settings": MODEL_SETTINGS,
        "parsing_res_list": blocks,
        "layout_det_res": {"boxes": []},
    }


def headings(markdown: str) -> list[str]:
    return HEADING_LINE.findall(markdown)


def clamped(level: int | None) -> int | None:
    """Our title level where PaddleX's is below 0 (a number shallower than the first dotted one): 0."""
    return None if level is None else max(level, 0)


def their_headings(markdown: str) -> list[str]:
    """PaddleX's heading lines, with a title it levelled below 0 (`"#" * 0 + " " + title`, no heading at all)
    shown at level 0 as ours is."""
    return headings(BELOW_TOP_LEVEL_TITLE.sub("# ", markdown))


def assert_same_blocks(paddlex, ours: Page, theirs: dict[str, Any], context: object) -> None:
    wire = theirs["pruned"]["parsing_res_list"]
    assert [b.global_block_id for b in ours.blocks] == [b["global_block_id"] for b in wire], context
    assert [b.global_group_id for b in ours.blocks] == [b["global_group_id"] for b in wire], context
    assert [b.title_level for b in ours.blocks] == [clamped(level) for level in theirs["title_levels"]], context
    for block, expected in zip(ours.blocks, wire, strict=True):
        content = block.content
        if block.label == "table" and content:  # PaddleX re-serialises the tables it merges through bs4
            normalised = [paddlex("normalise_html", text=text) for text in (content, expected["block_content"])]
            assert normalised[0] == normalised[1], context
        else:
            assert content == expected["block_content"], context


@pytest.mark.parametrize("seed", range(CASES))
def test_restructured_pages_match_paddlex(paddlex, seed):
    pages = document(seed)
    merge_tables, relevel_titles = seed % 4 != 3, seed % 4 != 2
    theirs = paddlex(
        "restructure_pages", pages=pages, merge_tables=merge_tables, relevel_titles=relevel_titles,
        concatenate_pages=False,
    )
    ours = restructure_pages(
        [page_from_pruned_result(page) for page in pages], merge_tables=merge_tables, relevel_titles=relevel_titles
    )
    assert len(ours) == len(theirs)
    for page, expected in zip(ours, theirs):
        assert_same_blocks(paddlex, page, expected, pages)
        if relevel_titles:  # without, both fall back to their own numbering heuristics, which differ by design
            ours_rendered = render_page(page.blocks, page.width, MarkdownOptions())
            assert headings(ours_rendered) == their_headings(expected["markdown"])


@pytest.mark.parametrize("seed", range(0, CASES, 4))
def test_concatenated_document_matches_paddlex(paddlex, seed):
    pages = document(seed)
    [theirs] = paddlex(
        "restructure_pages", pages=pages, merge_tables=True, relevel_titles=True, concatenate_pages=True
    )
    restructured = restructure_pages([page_from_pruned_result(page) for page in pages])
    ours = concatenate_pages(restructured)
    assert_same_blocks(paddlex, ours, theirs, pages)
    wire = theirs["pruned"]
    assert (ours.width, ours.height, wire["page_count"]) == (wire["width"], wire["height"], len(pages))
    assert wire["layout_det_res"] == [page["layout_det_res"] for page in pages]  # PaddleX's shape, for the server
    assert [b.block_id for b in ours.blocks] == [b["block_id"] for b in wire["parsing_res_list"]]
    assert [b.block_order for b in ours.blocks] == [b["block_order"] for b in wire["parsing_res_list"]]
    page_of_block = [i for i, page in enumerate(pages) for _ in page["parsing_res_list"]]
    assert [b.page_index for b in ours.blocks] == page_of_block
    # PaddleX keeps each block's page-local group_id; ours is shifted like block_id, so it names a block of the
    # concatenated page.
    first_ids = [sum(len(page["parsing_res_list"]) for page in pages[:i]) for i in range(len(pages))]
    local_group_ids = [b["group_id"] for b in wire["parsing_res_list"]]
    assert local_group_ids == [b["group_id"] for page in pages for b in page["parsing_res_list"]]
    assert [b.group_id for b in ours.blocks] == [
        first_ids[page] + local for page, local in zip(page_of_block, local_group_ids)
    ]
    assert headings(render_document(restructured, MarkdownOptions())) == their_headings(theirs["markdown"])


def continued_table_document(marker_label: str) -> list[dict[str, Any]]:
    """A table split over two pages, the second part captioned as a continuation."""
    header = [[("Name", 1), ("Year", 1)]]
    first = [{"block_label": "table", "block_content": table_html(header + [[("a", 1), ("1", 1)]]),
              "block_bbox": [100, 100, 900, 600]}]
    second = [
        {"block_label": marker_label, "block_content": "Table 2 (continued)", "block_bbox": [100, 20, 900, 50]},
        {"block_label": "table", "block_content": table_html(header + [[("b", 1), ("2", 1)]]),
         "block_bbox": [100, 60, 900, 500]},
    ]  # fmt: skip
    return [pruned(first, 2), pruned(second, 2)]


@pytest.mark.parametrize("marker_label", ["figure_title", "text", "paragraph_title", "doc_title"])
def test_a_caption_saying_continued_lets_the_table_merge_where_paddlex_does_not(paddlex, marker_label):
    """PaddleX means to let such a caption precede the continuation, but reads the text from block attributes
    its blocks do not have; we read the block's content."""
    pages = continued_table_document(marker_label)
    theirs = paddlex(
        "restructure_pages", pages=pages, merge_tables=True, relevel_titles=False, concatenate_pages=False
    )
    ours = restructure_pages([page_from_pruned_result(page) for page in pages], relevel_titles=False)
    assert [b["global_group_id"] for b in theirs[1]["pruned"]["parsing_res_list"]] == [1, 2]
    assert [b.global_group_id for b in ours[1].blocks] == [1, 0]
    whole = [[("Name", 1), ("Year", 1)], [("a", 1), ("1", 1)], [("b", 1), ("2", 1)]]
    assert ours[0].blocks[0].content == table_html(whole)
    assert ours[1].blocks[1].content == ""


def test_a_relevelled_title_shows_normalised_numbering_where_paddlex_prints_it_as_recognised(paddlex):
    """Without re-levelling both normalise the numbering (`1.Scope` → `1. Scope`); with it PaddleX prints the raw
    text, we keep the text as it is without, so only the level changes."""
    blocks = [{"block_label": "paragraph_title", "block_content": "1.Scope", "block_bbox": [100, 100, 500, 130]}]
    pages = [pruned(blocks, 1)]
    [theirs] = paddlex(
        "restructure_pages", pages=pages, merge_tables=True, relevel_titles=True, concatenate_pages=False
    )
    [ours] = restructure_pages([page_from_pruned_result(page) for page in pages])
    assert theirs["markdown"] == "## 1.Scope"
    assert render_page(ours.blocks, ours.width, MarkdownOptions()) == "## 1. Scope"
