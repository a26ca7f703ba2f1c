"""PP-DocLayoutV2 + PaddleOCR-VL end to end through Ray Serve (tiny random weights): wiring, not accuracy."""

from __future__ import annotations

import pytest

from tests.service.conftest import b64, report_png

pytestmark = pytest.mark.service


def test_a_page_is_laid_out_by_the_model_and_read_in_its_order(stack_client):
    # Without text merging, which may move a picture after a merged group, blocks keep the model's order.
    r = stack_client.post("/layout-parsing", json={"file": b64(report_png()), "visualize": False,
                                                   "maxNewTokens": 8, "mergeLayoutBlocks": False})
    assert r.status_code == 200, r.text[:500]
    page = r.json()["result"]["layoutParsingResults"][0]["prunedResult"]
    boxes = page["layout_det_res"]["boxes"]
    assert boxes and {b["cls_id"] for b in boxes} <= set(range(25))
    numbered = [b["order"] for b in boxes if b["order"] is not None]
    assert numbered == list(range(1, len(numbered) + 1))
    in_layout = [(b["label"], b["coordinate"]) for b in boxes]
    listed = [(b["block_label"], b["block_bbox"]) for b in page["parsing_res_list"]]
    positions = [in_layout.index(entry) for entry in listed]
    assert positions == sorted(positions)


def test_orientation_is_classified_by_the_orientation_model(stack_client):
    r = stack_client.post("/layout-parsing", json={"file": b64(report_png()), "visualize": True, "maxNewTokens": 4,
                                                   "useDocOrientationClassify": True})
    assert r.status_code == 200, r.text[:500]
    page = r.json()["result"]["layoutParsingResults"][0]
    assert page["prunedResult"]["doc_preprocessor_res"]["angle"] in (0, 90, 180, 270)
    assert "preprocessed_img" in page["outputImages"]


@pytest.mark.parametrize("priority", ["batch", "interactive"])
def test_either_request_class_is_read_by_the_engine_scheduling_by_priority(stack_client, priority):
    # configs/stack-cpu-tiny.yaml runs vLLM with `scheduling_policy: priority`; the class is each region's priority.
    r = stack_client.post("/layout-parsing", json={"file": b64(report_png()), "visualize": False, "maxNewTokens": 4,
                                                   "priority": priority})
    assert r.status_code == 200, r.text[:500]
    assert r.json()["result"]["layoutParsingResults"][0]["prunedResult"]["parsing_res_list"]
