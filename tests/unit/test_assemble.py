from __future__ import annotations

import numpy as np

from layout.assemble import (
    attach_pictures,
    number_blocks,
)
from layout.markdown import MarkdownOptions
from layout.reading_order import insert_in_reading_order, reorder_geometrically
from layout.types import Block


def test_block_order_skips_figure_like_and_ignored_labels():
    blocks = [Block("header", (0, 0, 10, 10)), Block("text", (0, 20, 10, 30)), Block("image", (0, 40, 10, 50)),
              Block("text", (0, 60, 10, 70))]
    number_blocks(blocks, ["header"])
    assert [b.block_order for b in blocks] == [None, 1, None, 2]
    assert [b.block_id for b in blocks] == [b.group_id for b in blocks] == [0, 1, 2, 3]


def test_pictures_and_empty_formulas_are_cropped_into_markdown_images():
    page = np.zeros((100, 100, 3), np.uint8)
    blocks = [Block("image", (0, 0, 50, 50)), Block("display_formula", (0, 60, 50, 80)),
              Block("display_formula", (0, 85, 50, 95), content="$$x$$"), Block("text", (60, 0, 90, 20), "t")]
    images = attach_pictures(page, blocks, MarkdownOptions(), max_side=2000)
    assert set(images) == {"imgs/img_in_image_box_0_0_50_50.jpg", "imgs/img_in_display_formula_box_0_60_50_80.jpg"}
    assert blocks[0].image_path in images and blocks[2].image_path is None


def test_a_recognised_seal_keeps_its_crop_unless_it_is_the_whole_page_read_without_layout():
    page = np.zeros((100, 100, 3), np.uint8)
    seal = Block("seal", (0, 0, 50, 50), content="ACME Ltd")
    assert set(attach_pictures(page, [seal], MarkdownOptions(), max_side=2000)) == {"imgs/img_in_seal_box_0_0_50_50.jpg"}
    whole_page = Block("seal", (0, 0, 100, 100), content="ACME Ltd")
    assert attach_pictures(page, [whole_page], MarkdownOptions(layout_detection=False), max_side=2000) == {}


def test_geometric_reorder_reads_columns_left_then_right():
    right = Block("text", (300, 0, 500, 100))
    left_low = Block("text", (0, 120, 200, 220))
    left_high = Block("text", (0, 0, 200, 100))
    ordered = reorder_geometrically([right, left_low, left_high], (500, 300))
    assert ordered == [left_high, left_low, right]


def test_extra_blocks_slot_into_an_order_without_changing_it():
    # The layout model reads the right column first; geometry alone would start on the left.
    right, left = Block("text", (260, 10, 490, 100)), Block("text", (10, 10, 240, 100))
    stray_under_left = Block("text", (10, 120, 240, 140), "stray")
    ordered = insert_in_reading_order([right, left], [stray_under_left], (500, 300))
    assert ordered == [right, left, stray_under_left]
    assert insert_in_reading_order([right, left], [], (500, 300)) == [right, left]
