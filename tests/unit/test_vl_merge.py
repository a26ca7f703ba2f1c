"""mergeLayoutBlocks: grouping split text blocks into one VLM call and stacking their crops (spec §5.4 step 3)."""

from __future__ import annotations

import numpy as np
import pytest

from layout.types import Block
from layout.vl_merge import merge_text_groups, stack_alignments, stack_crops


def block(label: str, x1: int, y1: int, x2: int, y2: int) -> Block:
    return Block(label=label, bbox=(x1, y1, x2, y2))


# A paragraph that ends at the bottom of the left column and continues at the top of the right one.
COLUMN_END = block("text", 50, 700, 450, 900)
COLUMN_START = block("text", 480, 100, 880, 300)
# A paragraph flowing around a figure inset on its right.
ABOVE_FIGURE = block("text", 100, 100, 500, 200)
FIGURE = block("image", 300, 210, 500, 400)
BESIDE_FIGURE = block("text", 100, 210, 280, 300)


def test_text_continuing_in_the_next_column_is_merged() -> None:
    assert merge_text_groups([COLUMN_END, COLUMN_START]) == [[0, 1]]


def test_next_column_too_far_away_is_not_merged() -> None:
    far = block("text", 600, 100, 1000, 300)  # gap 150 >= 30 % of 400
    assert merge_text_groups([COLUMN_END, far]) == [[0], [1]]


def test_block_right_of_and_below_the_previous_one_is_not_merged() -> None:
    lower = block("text", 480, 950, 880, 1100)
    assert merge_text_groups([COLUMN_END, lower]) == [[0], [1]]


def test_text_flowing_around_a_figure_is_merged_and_the_figure_follows() -> None:
    assert merge_text_groups([ABOVE_FIGURE, FIGURE, BESIDE_FIGURE]) == [[0, 2], [1]]


def test_stacked_text_without_a_picture_or_table_nearby_is_not_merged() -> None:
    assert merge_text_groups([ABOVE_FIGURE, BESIDE_FIGURE]) == [[0], [1]]


def test_stacked_text_touching_a_table_is_merged() -> None:
    table = block("table", 300, 210, 500, 400)
    assert merge_text_groups([ABOVE_FIGURE, BESIDE_FIGURE, table]) == [[0, 1], [2]]


def test_stacked_text_with_both_edges_aligned_is_not_merged() -> None:
    same_width = block("text", 100, 210, 500, 300)
    assert merge_text_groups([ABOVE_FIGURE, FIGURE, same_width]) == [[0], [1], [2]]


def test_stacked_text_too_far_below_is_not_merged() -> None:
    far_below = block("text", 100, 260, 280, 350)  # gap 60 >= 50 % of the taller (100)
    assert merge_text_groups([ABOVE_FIGURE, FIGURE, far_below]) == [[0], [1], [2]]


@pytest.mark.parametrize("label", ["paragraph_title", "abstract", "reference_content"])
def test_only_text_blocks_merge(label: str) -> None:
    other = block(label, 480, 100, 880, 300)
    assert merge_text_groups([COLUMN_END, other]) == [[0], [1]]
    assert merge_text_groups([other, block("text", 900, 100, 1300, 300)]) == [[0], [1]]


def test_another_label_between_text_blocks_breaks_the_chain() -> None:
    title = block("paragraph_title", 480, 50, 880, 90)
    assert merge_text_groups([COLUMN_END, title, COLUMN_START]) == [[0], [1], [2]]


def test_chains_can_be_longer_than_two() -> None:
    third = block("text", 910, 100, 1310, 300)
    assert merge_text_groups([COLUMN_END, COLUMN_START, third]) == [[0, 1, 2]]


def test_tall_stack_is_not_merged_but_the_figure_still_follows_the_chain() -> None:
    tall_above = block("text", 100, 100, 300, 700)
    figure = block("image", 200, 710, 300, 900)
    tall_beside = block("text", 100, 710, 180, 1300)
    assert merge_text_groups([tall_above, figure, tall_beside]) == [[0], [2], [1]]


def test_every_block_is_planned_exactly_once_in_a_mixed_page() -> None:
    blocks = [
        block("doc_title", 100, 20, 800, 80),
        ABOVE_FIGURE,
        FIGURE,
        BESIDE_FIGURE,
        block("table", 100, 450, 800, 600),
        COLUMN_END,
        COLUMN_START,
        block("footer", 100, 1000, 800, 1020),
    ]
    plan = merge_text_groups(blocks)
    assert plan == [[0], [1, 3], [2], [4], [5, 6], [7]]
    assert sorted(i for group in plan for i in group) == list(range(len(blocks)))


def test_empty_page_has_an_empty_plan() -> None:
    assert merge_text_groups([]) == []


def test_alignment_follows_the_shared_edge() -> None:
    right_aligned = block("text", 320, 210, 500, 300)
    blocks = [ABOVE_FIGURE, BESIDE_FIGURE, right_aligned, COLUMN_END, COLUMN_START]
    assert stack_alignments(blocks, [0, 1]) == ["left"]
    assert stack_alignments(blocks, [0, 2]) == ["right"]
    assert stack_alignments(blocks, [3, 4]) == ["center"]
    assert stack_alignments(blocks, [0, 1, 2]) == ["left", "center"]


def crop(height: int, width: int, value: int) -> np.ndarray:
    return np.full((height, width, 3), value, dtype=np.uint8)


@pytest.mark.parametrize(
    ("alignment", "bottom_row"),
    [("left", [2, 2, 255, 255]), ("right", [255, 255, 2, 2]), ("center", [255, 2, 2, 255])],
)
def test_stack_crops_aligns_on_white(alignment: str, bottom_row: list[int]) -> None:
    stacked = stack_crops([crop(2, 4, 1), crop(1, 2, 2)], alignment)
    assert stacked.shape == (3, 4, 3)
    assert stacked[:2, :, 0].tolist() == [[1, 1, 1, 1], [1, 1, 1, 1]]
    assert stacked[2, :, 0].tolist() == bottom_row


def test_stack_crops_applies_one_alignment_per_step() -> None:
    stacked = stack_crops([crop(1, 2, 1), crop(1, 4, 2), crop(1, 2, 3)], ["left", "right"])
    assert stacked[:, :, 0].tolist() == [[1, 1, 255, 255], [2, 2, 2, 2], [255, 255, 3, 3]]


def test_stack_crops_converts_gray_to_bgr() -> None:
    stacked = stack_crops([np.zeros((1, 2), dtype=np.uint8), crop(1, 2, 9)], "left")
    assert stacked.shape == (2, 2, 3)
    assert stacked[0, 0].tolist() == [0, 0, 0]


def test_single_crop_comes_back_unchanged() -> None:
    only = crop(3, 3, 5)
    assert stack_crops([only], []) is only


def test_stack_crops_rejects_wrong_alignments() -> None:
    with pytest.raises(ValueError, match="need 1 alignments"):
        stack_crops([crop(1, 1, 0), crop(1, 1, 0)], ["left", "left"])
    with pytest.raises(ValueError, match="alignment must be"):
        stack_crops([crop(1, 1, 0), crop(1, 1, 0)], "middle")
    with pytest.raises(ValueError, match="nothing"):
        stack_crops([], "left")
