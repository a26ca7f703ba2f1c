"""`mergeLayoutBlocks` (spec §5.4 step 3): one paragraph that the layout model cut into several `text` boxes — across
a column break, or around an inset figure or table — is read in one VLM call over its stacked crops, so the model
sees whole sentences instead of fragments that end mid-word.

The result of `merge_text_groups` is the page's recognition plan: a list of groups of block indices in output
order, every block in exactly one group. A group of several blocks is one VLM call over `stack_crops` of their
crops; its first block receives the text, the others "", and all take the first block's index as `group_id`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from layout.geometry import overlaps, overlaps_horizontally, union_box
from layout.labels import IMAGE_LABELS, TABLE_LABEL, TEXT_LABEL
from layout.reading_order import read_runs_together
from layout.types import Block

MERGEABLE_LABEL = TEXT_LABEL
# Blocks that neither merge nor interrupt a chain of text blocks: pictures and tables sit inside the text flow.
NON_MERGEABLE_LABELS: frozenset[str] = IMAGE_LABELS | {TABLE_LABEL}
# Side by side (next column): the horizontal gap must be under this share of the wider block.
SIDE_GAP_SHARE = 0.3
# Stacked: the vertical gap must be under this share of the taller block.
VERTICAL_GAP_SHARE = 0.5
# Edges closer than this many pixels count as aligned.
EDGE_TOLERANCE = 5
# A stack this many times taller than wide is not merged: a tall narrow image squeezed into the pixel budget would
# shrink its text below legibility.
MAX_STACK_ASPECT = 3.0

LEFT = "left"
RIGHT = "right"
CENTER = "center"
ALIGNMENTS = (LEFT, RIGHT, CENTER)
WHITE = 255


def merge_text_groups(blocks: Sequence[Block]) -> list[list[int]]:
    """Group `blocks` (one page, reading order) into recognition units; see the module docstring for the result.

    Blocks other than pictures and tables form the text flow. Two `text` blocks next to each other in that flow —
    pictures and tables between them do not count — are chained when either
    * side by side: the later one starts right of the earlier one's right edge, with a gap under 30 % of the wider
      block, and starts above the earlier one's bottom (our reading of "side by side": the two overlap vertically
      or the next column begins higher, as a column break does); or
    * stacked: their horizontal extents overlap, the gap between the earlier bottom and the later top (either
      sign) is under 50 % of the taller block, exactly one of left or right edges is aligned within 5 px, and
      their union box overlaps (with positive area) a picture or table — the paragraph flows around an inset.
    Any other label between two text blocks breaks the chain.

    A chain whose stacked crops would be at least 3 times taller than wide stays as separate single-block units.
    Either way, pictures and tables lying between a chain's members come right after the chain, as upstream does:
    they interrupted one paragraph, which now reads uninterrupted (`reading_order.read_runs_together`).
    """
    chains: list[list[int]] = []
    for index, block in enumerate(blocks):
        if block.label in NON_MERGEABLE_LABELS:
            continue
        if chains and _continues(blocks, chains[-1][-1], index):
            chains[-1].append(index)
        else:
            chains.append([index])
    merged = [c for c in chains if len(c) > 1 and _stack_aspect([blocks[i].bbox for i in c]) < MAX_STACK_ASPECT]
    group_at = {group[0]: group for group in merged}
    followers = {i for group in merged for i in group[1:]}
    return [group_at.get(i, [i]) for i in read_runs_together(len(blocks), chains) if i not in followers]


def stack_alignments(blocks: Sequence[Block], group: Sequence[int]) -> list[str]:
    """How each member of a merged group lines up with the stack above it, for `stack_crops`: by the edge it
    shares with the previous member (left edge first), centred when it shares none, as side-by-side pairs do."""
    alignments = []
    for above, below in zip(group, group[1:]):
        a, b = blocks[above].bbox, blocks[below].bbox
        if abs(a[0] - b[0]) <= EDGE_TOLERANCE:
            alignments.append(LEFT)
        elif abs(a[2] - b[2]) <= EDGE_TOLERANCE:
            alignments.append(RIGHT)
        else:
            alignments.append(CENTER)
    return alignments


def stack_crops(crops: Sequence[np.ndarray], alignment: str | Sequence[str]) -> np.ndarray:
    """The crops stacked top to bottom on white, as one BGR image as wide as the widest crop.

    `alignment` is one of left/right/center for every step, or one per step (`len(crops) - 1`, as from
    `stack_alignments`): step i places crop i+1 under everything stacked so far, and the stack so far is aligned
    the same way against it. Gray crops are converted to BGR. A single crop comes back as it is.
    """
    if not crops:
        raise ValueError("nothing to stack")
    steps = [alignment] * (len(crops) - 1) if isinstance(alignment, str) else list(alignment)
    if len(steps) != len(crops) - 1:
        raise ValueError(f"need {len(crops) - 1} alignments for {len(crops)} crops, got {len(steps)}")
    if len(crops) == 1:
        return crops[0]
    stack = _as_bgr(crops[0])
    for crop, step in zip(crops[1:], steps):
        if step not in ALIGNMENTS:
            raise ValueError(f"alignment must be one of {', '.join(ALIGNMENTS)}, got {step!r}")
        crop = _as_bgr(crop)
        width = max(stack.shape[1], crop.shape[1])
        canvas = np.full((stack.shape[0] + crop.shape[0], width, 3), WHITE, dtype=np.uint8)
        top_x, bottom_x = _offset(width, stack.shape[1], step), _offset(width, crop.shape[1], step)
        canvas[: stack.shape[0], top_x : top_x + stack.shape[1]] = stack
        canvas[stack.shape[0] :, bottom_x : bottom_x + crop.shape[1]] = crop
        stack = canvas
    return stack


def _continues(blocks: Sequence[Block], previous: int, current: int) -> bool:
    if blocks[previous].label != MERGEABLE_LABEL or blocks[current].label != MERGEABLE_LABEL:
        return False
    a, b = blocks[previous].bbox, blocks[current].bbox
    if _side_by_side(a, b):
        return True
    return _stacked(a, b) and _overlaps_non_mergeable(blocks, union_box(a, b))


def _side_by_side(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    gap = b[0] - a[2]
    return gap > 0 and b[1] < a[3] and gap < SIDE_GAP_SHARE * max(a[2] - a[0], b[2] - b[0])


def _stacked(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    close = abs(b[1] - a[3]) < VERTICAL_GAP_SHARE * max(a[3] - a[1], b[3] - b[1])
    left_aligned = abs(a[0] - b[0]) <= EDGE_TOLERANCE
    right_aligned = abs(a[2] - b[2]) <= EDGE_TOLERANCE
    return overlaps_horizontally(a, b) and b[3] >= a[1] and close and left_aligned != right_aligned


def _overlaps_non_mergeable(blocks: Sequence[Block], box: tuple[int, int, int, int]) -> bool:
    return any(
        block.label in NON_MERGEABLE_LABELS and overlaps(box, block.bbox)
        for block in blocks
    )


def _stack_aspect(bboxes: Sequence[tuple[int, int, int, int]]) -> float:
    """Height / width of the stacked crops, from the boxes: crops are the boxes cut without padding (§5.4 step 2)."""
    width = max(box[2] - box[0] for box in bboxes)
    height = sum(box[3] - box[1] for box in bboxes)
    return height / width if width > 0 else float("inf")


def _offset(width: int, part: int, alignment: str) -> int:
    if alignment == LEFT:
        return 0
    if alignment == RIGHT:
        return width - part
    return (width - part) // 2


def _as_bgr(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image
