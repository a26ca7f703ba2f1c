"""Reading order: geometric ranking for layout models without an order head (the embedded CDLA PicoDet model),
and the only ways recognition may change an order the layout stage decided: blocks found after layout (stray OCR
text) are slotted in, and the pieces of one paragraph read together (VL text merging) are read without
interruption.

PP-DocLayoutV2 predicts reading order itself (spec §5.3); a plain detector does not, and sorting its boxes
top-to-bottom interleaves the columns of a multi-column page. This module ranks boxes with a column-aware
recursive XY-cut instead: page headers first, page footers last, and the body cut into columns wherever a vertical
gutter runs through a region and into horizontal bands wherever a full-width element separates them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from layout.labels import FOOTER_LABELS, HEADER_LABELS, LABEL_TO_ID
from layout.types import BBox, Block, Detection

# Two boxes whose projections overlap by less than this share of the page's width (for columns) or height (for
# bands) still count as separated: detector boxes jitter, and a 1-2 % overlap must not merge two columns.
OVERLAP_TOLERANCE_RATIO = 0.01

_X, _Y = 0, 1  # axis index into an x1,y1,x2,y2 box: start = box[axis], end = box[axis + 2]


def assign_reading_order(detections: Sequence[Detection], page_size: tuple[int, int]) -> list[Detection]:
    """Copies of `detections`, in input order, with `model_order` set to their reading rank 0..n-1.

    Header-like labels come first and footer-like labels last, each top to bottom; the body in between follows
    `_xy_cut`. `page_size` is (width, height) in pixels and scales the overlap tolerance.
    """
    width, height = page_size
    tolerance = (OVERLAP_TOLERANCE_RATIO * width, OVERLAP_TOLERANCE_RATIO * height)
    boxes = [d.bbox for d in detections]
    headers = [i for i, d in enumerate(detections) if d.label in HEADER_LABELS]
    footers = [i for i, d in enumerate(detections) if d.label in FOOTER_LABELS]
    body = [i for i, d in enumerate(detections) if d.label not in HEADER_LABELS and d.label not in FOOTER_LABELS]
    ranked = _top_to_bottom(headers, boxes) + _xy_cut(body, boxes, tolerance) + _top_to_bottom(footers, boxes)
    rank_of = {index: rank for rank, index in enumerate(ranked)}
    return [replace(d, model_order=rank_of[i]) for i, d in enumerate(detections)]


def _top_to_bottom(indices: Sequence[int], boxes: Sequence[BBox]) -> list[int]:
    """Row-major order; also the fallback for a region that no cut can split."""
    return sorted(indices, key=lambda i: (boxes[i][1], boxes[i][0]))


def _xy_cut(indices: Sequence[int], boxes: Sequence[BBox], tolerance: tuple[float, float]) -> list[int]:
    """Read a region: columns left to right if a gutter splits it, else its bands top to bottom.

    Columns are tried first because paragraph gaps in neighbouring columns often line up, and cutting there would
    read the page row by row across columns. Bands are grouped before recursing (see `_group_bands`) so a
    horizontal cut only happens where an element spanning the gutter forces it.
    """
    if len(indices) <= 1:
        return list(indices)
    columns = _split(indices, boxes, _X, tolerance[_X])
    if len(columns) > 1:
        return [i for column in columns for i in _xy_cut(column, boxes, tolerance)]
    bands = _split(indices, boxes, _Y, tolerance[_Y])
    if len(bands) == 1:
        return _top_to_bottom(indices, boxes)
    groups = _group_bands(bands, boxes, tolerance[_X])
    return [i for group in groups for i in _xy_cut(group, boxes, tolerance)]


def _split(indices: Sequence[int], boxes: Sequence[BBox], axis: int, tolerance: float) -> list[list[int]]:
    """Partition boxes into runs along `axis` whose projections overlap (by more than `tolerance`), in order."""
    ordered = sorted(indices, key=lambda i: boxes[i][axis])
    runs: list[list[int]] = []
    run_end = float("-inf")
    for i in ordered:
        start, end = boxes[i][axis], boxes[i][axis + 2]
        if start > run_end - tolerance:
            runs.append([i])
            run_end = end
        else:
            runs[-1].append(i)
            run_end = max(run_end, end)
    return runs


def _group_bands(bands: Sequence[list[int]], boxes: Sequence[BBox], tolerance: float) -> list[list[int]]:
    """Merge consecutive bands while their union still has a column gutter.

    Bands of one multi-column section keep the gutter together and are merged, so the section is later read
    column by column; an element spanning the gutter (full-width title, wide figure) closes the section and
    stands as its own group, separating what is above it from what is below.
    """
    groups: list[list[int]] = [list(bands[0])]
    for band in bands[1:]:
        candidate = groups[-1] + band
        if len(_split(candidate, boxes, _X, tolerance)) > 1:
            groups[-1] = candidate
        else:
            groups.append(list(band))
    return groups


def column_blocks(boxes: Sequence[BBox]) -> list[list[int]]:
    """Boxes of text set in columns (lines, cells) as the blocks a reader takes one after another, read as the
    page's regions are: each column of a multi-column section top to bottom, the columns left to right, and what
    spans them in between. Indices into `boxes`, each block top to bottom."""
    return _column_blocks(list(range(len(boxes))), boxes)


def _column_blocks(indices: Sequence[int], boxes: Sequence[BBox]) -> list[list[int]]:
    # Lines and cells are exact boxes, unlike a detector's: no overlap tolerance.
    columns = _split(indices, boxes, _X, 0.0)
    if len(columns) > 1:
        return [block for column in columns for block in _column_blocks(column, boxes)]
    blocks: list[list[int]] = []
    run: list[int] = []
    for group in _group_bands(_split(indices, boxes, _Y, 0.0), boxes, 0.0):
        if len(_split(group, boxes, _X, 0.0)) > 1:
            blocks += [run] if run else []
            blocks += _column_blocks(group, boxes)
            run = []
        else:
            run += _top_to_bottom(group, boxes)
    return blocks + ([run] if run else [])


def reorder_geometrically(blocks: Sequence[Block], page_size: tuple[int, int]) -> list[Block]:
    """Reading order of blocks by geometry alone (column-aware XY-cut)."""
    detections = [Detection(LABEL_TO_ID.get(b.label, -1), b.label, 1.0, b.bbox) for b in blocks]
    ranked = assign_reading_order(detections, page_size)
    return [blocks[i] for i in sorted(range(len(blocks)), key=lambda i: ranked[i].model_order)]


def insert_in_reading_order(
    blocks: Sequence[Block], extras: Sequence[Block], page_size: tuple[int, int]
) -> list[Block]:
    """`blocks` (already in reading order, possibly the layout model's own) with `extras` slotted in: each extra
    goes right after the block it follows in geometric reading order, so the existing order is never changed."""
    after: dict[int | None, list[Block]] = {}
    anchor: int | None = None
    extra_ids = {id(extra) for extra in extras}
    for block in reorder_geometrically([*blocks, *extras], page_size):
        if id(block) in extra_ids:
            after.setdefault(anchor, []).append(block)
        else:
            anchor = id(block)
    ordered = list(after.get(None, []))
    for block in blocks:
        ordered += [block, *after.get(id(block), [])]
    return ordered


def read_runs_together(count: int, runs: Sequence[Sequence[int]]) -> list[int]:
    """Reading order of `count` blocks in which each run — ascending block indices, such as the pieces of one
    paragraph that the layout model cut around an inset picture — is read without interruption: its members at the
    place of its first, then the blocks that lay between them. Runs do not interleave; other blocks keep their
    place."""
    run_at = {run[0]: run for run in runs if len(run) > 1}
    order: list[int] = []
    index = 0
    while index < count:
        run = run_at.get(index)
        if run is None:
            order.append(index)
            index += 1
            continue
        members = set(run)
        order += [*run, *(i for i in range(run[0] + 1, run[-1]) if i not in members)]
        index = run[-1] + 1
    return order
