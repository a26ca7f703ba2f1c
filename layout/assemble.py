"""From post-processed layout boxes and recognised contents to the wire `prunedResult` and Markdown of a page."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from layout.crop import crop, encode_jpeg_base64, image_path_for
from layout.labels import SKIP_ORDER_LABELS
from layout.markdown import MarkdownOptions, format_block_content, is_picture
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
) -> dict[str, str]:
    """Crops every picture block into `markdown.images` (Base64 JPEG by `imgs/…` path) and points the block at it.

    Pass the figures tables absorbed too: their crops belong in `markdown.images` (the table HTML shows them).
    """
    images: dict[str, str] = {}
    for block in blocks:
        if is_picture(block, markdown):
            block.image_path = image_path_for(block.label, block.bbox)
            picture = crop(page, block.bbox, block.polygon)
            images[block.image_path] = encode_jpeg_base64(picture, max_side=max_side)
    return images


@dataclass(frozen=True)
class PageSettings:
    """`model_settings` of spec §3.4: what actually ran for this page."""

    use_doc_preprocessor: bool
    use_layout_detection: bool
    use_chart_recognition: bool
    use_seal_recognition: bool
    use_ocr_for_image_block: bool
    format_block_content: bool
    merge_layout_blocks: bool
    markdown_ignore_labels: list[str]
    return_layout_polygon_points: bool


def pruned_result(
    page_size: tuple[int, int],
    settings: PageSettings,
    blocks: Sequence[Block],
    layout_boxes: Sequence[LayoutBox] | None,
    orientation_angle: int | None,
    markdown: MarkdownOptions,
) -> dict:
    width, height = page_size
    result: dict = {
        "page_count": None,
        "width": width,
        "height": height,
        "model_settings": asdict(settings),
        "parsing_res_list": [_block_json(b, blocks, width, settings.format_block_content, markdown) for b in blocks],
    }
    if layout_boxes is not None:
        result["layout_det_res"] = {"boxes": [_box_json(box) for box in layout_boxes]}
    if settings.use_doc_preprocessor:
        result["doc_preprocessor_res"] = {
            "model_settings": {"use_doc_orientation_classify": orientation_angle is not None, "use_doc_unwarping": False},
            "angle": -1 if orientation_angle is None else orientation_angle,
        }
    return result


def _block_json(block: Block, blocks: Sequence[Block], page_width: int, formatted: bool, markdown: MarkdownOptions) -> dict:
    content = block.content
    if formatted:
        following = blocks[block.block_id + 1] if block.block_id + 1 < len(blocks) else None
        content = format_block_content(block, page_width, markdown, next_block=following)
    result = {
        "block_label": block.label,
        "block_content": content,
        "block_bbox": list(block.bbox),
        "block_id": block.block_id,
        "block_order": block.block_order,
        "group_id": block.group_id,
    }
    if block.polygon is not None:
        result["block_polygon_points"] = [list(point) for point in block.polygon]
    return result


def _box_json(box: LayoutBox) -> dict:
    result = {
        "cls_id": box.cls_id,
        "label": box.label,
        "score": round(box.score, 6),
        "coordinate": list(box.coordinate),
        "order": box.order,
    }
    if box.polygon_points is not None:
        result["polygon_points"] = [list(point) for point in box.polygon_points]
    return result

