"""The wire `prunedResult` built from a page's blocks: upstream's keys in upstream's order, nulls kept."""

from __future__ import annotations

from layout.assemble import number_blocks
from layout.markdown import MarkdownOptions
from layout.postprocess import LayoutBox
from layout.types import Block
from serve.protocol import ModelSettings
from serve.results import pruned_result

SETTINGS = ModelSettings(
    use_doc_preprocessor=False, use_layout_detection=True, use_chart_recognition=False, use_seal_recognition=False,
    use_ocr_for_image_block=False, format_block_content=False, merge_layout_blocks=True,
    markdown_ignore_labels=["header"], return_layout_polygon_points=True,
)


def test_pruned_result_has_the_contract_keys_and_keeps_nulls():
    blocks = [Block("header", (0, 0, 10, 10), "h"), Block("text", (0, 20, 10, 30), "t")]
    number_blocks(blocks, ["header"])
    boxes = [LayoutBox(12, "header", 0.9, (0, 0, 10, 10), None), LayoutBox(22, "text", 0.8, (0, 20, 10, 30), 1)]
    result = pruned_result((100, 200), SETTINGS, blocks, boxes, None, MarkdownOptions(), None).model_dump(
        exclude_unset=True
    )
    assert list(result) == ["page_count", "width", "height", "model_settings", "parsing_res_list", "layout_det_res"]
    assert result["parsing_res_list"][0] == {
        "block_label": "header", "block_content": "h", "block_bbox": [0, 0, 10, 10], "block_id": 0,
        "block_order": None, "group_id": 0,
    }
    assert result["layout_det_res"]["boxes"][1]["order"] == 1


def test_int_coordinates_stay_ints_on_the_wire():
    blocks = [Block("text", (1, 2, 30, 40), "t", polygon=((1, 2), (30, 2), (30, 40), (1, 40)))]
    number_blocks(blocks, [])
    pruned = pruned_result((100, 200), SETTINGS, blocks, [], 90, MarkdownOptions(), None)
    wire = pruned.model_dump_json(exclude_unset=True)
    assert '"block_bbox":[1,2,30,40]' in wire and '"block_polygon_points":[[1,2],[30,2],[30,40],[1,40]]' in wire
