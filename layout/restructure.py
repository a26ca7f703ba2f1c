"""Cross-page restructuring of a document (spec §3.5 `/restructure-pages`, §5.10 `restructurePages`).

Pages go in already recognised; copies come out with document-wide block ids, tables that a page break split
joined into their first part, and paragraph titles re-levelled across the document. `concatenate_pages` then
makes one page of them. Every function is pure: the caller's pages and blocks are never changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from layout.labels import PARAGRAPH_TITLE_LABEL
from layout.table_merge import first_table, last_table, merge_continued_table
from layout.title_levels import title_levels
from layout.types import Block

# `#` marks heading a `block_content` that `formatBlockContent` rendered; re-rendering adds its own.
_HEADING_MARKS = re.compile(r"^#+\s")


@dataclass(frozen=True)
class Page:
    """One page of a document: its size in pixels and its blocks in reading order."""

    width: int
    height: int
    blocks: tuple[Block, ...]


def restructure_pages(pages: Sequence[Page], *, merge_tables: bool = True, relevel_titles: bool = True) -> list[Page]:
    """The pages with every block copied and given a `global_block_id` (its index in the whole document) and a
    `global_group_id`.

    With `merge_tables`, a table continued at the top of the next page is appended to the earlier page's
    table (see `layout.table_merge`): the later block's content becomes "" and its `global_group_id` is the
    `global_block_id` of the block holding the whole table, also across several pages. Otherwise a block's
    `global_group_id` is its own id. With `relevel_titles`, each `paragraph_title` gets a `title_level` chosen
    across all pages (see `layout.title_levels`). Copies are shallow: a copy's `group_leader` is the caller's.
    """
    blocks_by_page = [[replace(block) for block in page.blocks] for page in pages]
    document = [block for blocks in blocks_by_page for block in blocks]
    for index, block in enumerate(document):
        block.global_block_id = block.global_group_id = index
    if merge_tables:
        _merge_continued_tables(blocks_by_page)
        # A table over three pages was merged from the back: point every part at the first, in document order.
        for block in document:
            block.global_group_id = document[block.global_group_id].global_group_id
    if relevel_titles:
        titles = [block for block in document if block.label == PARAGRAPH_TITLE_LABEL]
        for title, level in zip(titles, title_levels(titles)):
            title.title_level = level
    return [replace(page, blocks=tuple(blocks)) for page, blocks in zip(pages, blocks_by_page)]


def concatenate_pages(pages: Sequence[Page]) -> Page:
    """The pages as one (`concatenatePages`), in PaddleX's shape: the first page's width and height, the blocks
    of all pages in order, each copied with its `page_index`, `block_id` its index in the whole, `group_id`
    shifted with it, and `block_order` numbered on across the pages."""
    if not pages:
        raise ValueError("no pages to concatenate")
    blocks: list[Block] = []
    order = 0
    for page_index, page in enumerate(pages):
        first_id = len(blocks)
        for block in page.blocks:
            block_order = None
            if block.block_order is not None:
                order += 1
                block_order = order
            blocks.append(
                replace(
                    block,
                    page_index=page_index,
                    block_id=len(blocks),
                    group_id=first_id + block.group_id,
                    block_order=block_order,
                )
            )
    return Page(pages[0].width, pages[0].height, tuple(blocks))


def page_from_pruned_result(pruned: Mapping[str, Any]) -> Page:
    """A page from a `prunedResult` as `/restructure-pages` receives it (JSON-decoded).

    `block_id` is the block's index, `group_id` and `block_order` are taken as sent (a missing `group_id`:
    the block's own), leading `#` marks are stripped from `block_content`, and coordinates become ints.
    """
    blocks = tuple(_block_from_wire(index, entry) for index, entry in enumerate(pruned["parsing_res_list"]))
    return Page(int(pruned["width"]), int(pruned["height"]), blocks)


def _merge_continued_tables(blocks_by_page: list[list[Block]]) -> None:
    """Walking back from the last page, so a table's middle part already holds its tail when it is itself
    appended to the head."""
    for later in range(len(blocks_by_page) - 1, 0, -1):
        earlier_page, later_page = blocks_by_page[later - 1], blocks_by_page[later]
        earlier, continuation = last_table(earlier_page), first_table(later_page)
        if earlier is None or continuation is None:
            continue
        merged = merge_continued_table(earlier_page, earlier, later_page, continuation)
        if merged is None:
            continue
        earlier_page[earlier].content = merged
        later_page[continuation].content = ""
        later_page[continuation].global_group_id = earlier_page[earlier].global_block_id


def _block_from_wire(index: int, entry: Mapping[str, Any]) -> Block:
    group_id = entry.get("group_id")
    polygon = entry.get("block_polygon_points")
    x1, y1, x2, y2 = (int(value) for value in entry["block_bbox"])
    return Block(
        label=entry["block_label"],
        bbox=(x1, y1, x2, y2),
        content=_HEADING_MARKS.sub("", entry["block_content"], count=1),
        block_id=index,
        block_order=entry.get("block_order"),
        group_id=index if group_id is None else group_id,
        polygon=None if polygon is None else tuple((int(x), int(y)) for x, y in polygon),
    )
