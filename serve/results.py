"""From a page's recognised blocks to its wire `prunedResult` (spec §3.4), as the contract's models."""

from __future__ import annotations

from collections.abc import Sequence

from layout.markdown import MarkdownOptions, format_block_content
from layout.postprocess import LayoutBox
from layout.types import Block
from serve.backends.base import SpottingResult
from serve.protocol import (
    DocPreprocessorResult,
    DocPreprocessorSettings,
    LayoutDetBox,
    LayoutDetResult,
    ModelSettings,
    ParsingBlock,
    PrunedResult,
    SpottingRes,
)

# `doc_preprocessor_res.angle` when orientation was not classified.
NO_ANGLE = -1
# `layout_det_res` scores are reported to this many decimals.
SCORE_DECIMALS = 6


def pruned_result(
    page_size: tuple[int, int],
    settings: ModelSettings,
    blocks: Sequence[Block],
    layout_boxes: Sequence[LayoutBox] | None,
    orientation_angle: int | None,
    markdown: MarkdownOptions,
    spotting: SpottingResult | None,
) -> PrunedResult:
    """`layout_boxes` is None when layout detection was off; optional parts are set only where they apply."""
    width, height = page_size
    result = PrunedResult(
        page_count=None,
        width=width,
        height=height,
        model_settings=settings,
        parsing_res_list=parsing_blocks(blocks, width, settings.format_block_content, markdown),
    )
    if layout_boxes is not None:
        result.layout_det_res = LayoutDetResult(boxes=[_box(box) for box in layout_boxes])
    if settings.use_doc_preprocessor:
        result.doc_preprocessor_res = DocPreprocessorResult(
            model_settings=DocPreprocessorSettings(
                use_doc_orientation_classify=orientation_angle is not None, use_doc_unwarping=False
            ),
            angle=NO_ANGLE if orientation_angle is None else orientation_angle,
        )
    if spotting is not None:
        result.spotting_res = SpottingRes(rec_polys=spotting.rec_polys, rec_texts=spotting.rec_texts)
    return result


def parsing_blocks(
    blocks: Sequence[Block], page_width: int, formatted: bool, markdown: MarkdownOptions
) -> list[ParsingBlock]:
    """`parsing_res_list`; `formatted`: `formatBlockContent`, each block's content as Markdown renders it."""
    return [_block(b, blocks, page_width, formatted, markdown) for b in blocks]


def _block(
    block: Block, blocks: Sequence[Block], page_width: int, formatted: bool, markdown: MarkdownOptions
) -> ParsingBlock:
    content = block.content
    if formatted:
        following = blocks[block.block_id + 1] if block.block_id + 1 < len(blocks) else None
        content = format_block_content(block, page_width, markdown, next_block=following)
    result = ParsingBlock(
        block_label=block.label,
        block_content=content,
        block_bbox=list(block.bbox),
        block_id=block.block_id,
        block_order=block.block_order,
        group_id=block.group_id,
    )
    if block.polygon is not None:
        result.block_polygon_points = list(block.polygon)
    if block.global_block_id is not None:
        result.global_block_id = block.global_block_id
        result.global_group_id = block.global_group_id
    return result


def _box(box: LayoutBox) -> LayoutDetBox:
    result = LayoutDetBox(
        cls_id=box.cls_id, label=box.label, score=round(box.score, SCORE_DECIMALS), coordinate=list(box.coordinate),
        order=box.order,
    )
    if box.polygon_points is not None:
        result.polygon_points = list(box.polygon_points)
    return result
