"""From post-processed layout boxes to a page's blocks: numbering, reading-order ids and picture crops."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from layout.crop import crop, encode_jpeg, image_path_for
from layout.labels import SKIP_ORDER_LABELS
from layout.markdown import MarkdownOptions, is_picture
from layout.postprocess import LayoutBox
from layout.types import Block


def blocks_from_boxes(boxes: Iterable[LayoutBox]) -> list[Block]:
    return [Block(label=box.label, bbox=box.coordinate, polygon=box.polygon_points) for box in boxes]


def number_blocks(blocks: Sequence[Block], ignore_labels: Iterable[str]) -> None:
    """`block_id` is the index, `group_id` the `block_id` of the group's first block (its own when it was
    recognised alone), and `block_order` the 1-based reading index skipping the labels of spec §3.4 plus the
    Markdown-ignored ones."""
    skipped = SKIP_ORDER_LABELS | set(ignore_labels)
    order = 0
    for index, block in enumerate(blocks):
        block.block_id = index
    for block in blocks:
        block.group_id = (block.group_leader or block).block_id
        if block.label in skipped:
            block.block_order = None
        else:
            order += 1
            block.block_order = order


def attach_pictures(
    page: np.ndarray, blocks: Sequence[Block], markdown: MarkdownOptions, max_side: int
) -> dict[str, bytes]:
    """Crops every picture block into `markdown.images` (JPEG by `imgs/…` path) and points the block at it.

    Pass the figures tables absorbed too: their crops belong in `markdown.images` (the table HTML shows them).
    """
    images: dict[str, bytes] = {}
    for block in blocks:
        if is_picture(block, markdown):
            block.image_path = image_path_for(block.label, block.bbox)
            picture = crop(page, block.bbox, block.polygon)
            images[block.image_path] = encode_jpeg(picture, max_side=max_side)
    return images
