"""The wire contract of spec §2–3 over HTTP against the running app."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tests.service.conftest import b64, report_png

pytestmark = pytest.mark.service


def _png(text: str = "Hello contract 42", size: tuple[int, int] = (900, 300)) -> bytes:
    page = np.full((size[1], size[0], 3), 255, np.uint8)
    cv2.putText(page, text, (40, size[1] // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (0, 0, 0), 3)
    return cv2.imencode(".png", page)[1].tobytes()


PNG = _png()


def _errors(response) -> list[dict]:
    body = response.json()
    assert body["errorCode"] == response.status_code
    return json.loads(body["errorMsg"])


def test_health_is_liveness_in_the_envelope(client):
    body = client.get("/health").json()
    assert body["errorCode"] == 0 and body["errorMsg"] == "Healthy" and body["logId"]


def test_openapi_document_names_the_operations(client):
    spec = client.get("/openapi.json").json()
    assert spec["paths"]["/layout-parsing"]["post"]["operationId"] == "infer"
    assert spec["paths"]["/health"]["get"]["operationId"] == "checkHealth"
    assert "LayoutParsingRequest" in spec["components"]["schemas"]


def test_image_request_returns_the_success_envelope_with_logid_echo(client):
    r = client.post("/layout-parsing", json={"file": b64(PNG), "fileType": 1, "logId": "abc-123"})
    assert r.status_code == 200
    body = r.json()
    assert (body["logId"], body["errorCode"], body["errorMsg"]) == ("abc-123", 0, "Success")
    result = body["result"]
    assert result["dataInfo"] == {"width": 900, "height": 300, "type": "image"}
    [page] = result["layoutParsingResults"]
    pruned = page["prunedResult"]
    assert pruned["page_count"] is None and (pruned["width"], pruned["height"]) == (900, 300)
    assert set(pruned["model_settings"]) == {
        "use_doc_preprocessor", "use_layout_detection", "use_chart_recognition", "use_seal_recognition",
        "use_ocr_for_image_block", "format_block_content", "merge_layout_blocks", "markdown_ignore_labels",
        "return_layout_polygon_points",
    }
    assert "contract" in page["markdown"]["text"].lower()
    assert "outputImages" in page and "inputImage" in page  # visualize defaults to true


def test_visualize_false_and_no_markdown_images_omit_those_keys(client):
    r = client.post(
        "/layout-parsing", json={"file": b64(PNG), "fileType": 1, "visualize": False, "returnMarkdownImages": False}
    )
    [page] = r.json()["result"]["layoutParsingResults"]
    assert "outputImages" not in page and "inputImage" not in page and "images" not in page["markdown"]


def test_nulls_inside_pruned_result_are_kept(client):
    r = client.post("/layout-parsing", json={"file": b64(PNG), "fileType": 1, "visualize": False})
    pruned = r.json()["result"]["layoutParsingResults"][0]["prunedResult"]
    assert "page_count" in pruned and pruned["page_count"] is None


def test_file_type_is_inferred_from_magic_bytes(client):
    r = client.post("/layout-parsing", json={"file": b64(PNG), "visualize": False})
    assert r.status_code == 200


def test_data_uri_is_accepted(client):
    r = client.post("/layout-parsing", json={"file": "data:image/png;base64," + b64(PNG), "visualize": False})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({}, "body.file", "missing"),
        ({"file": "x", "fileType": 7}, "body.fileType", "literal_error"),
        ({"file": "x", "topP": 0}, "body.topP", "greater_than"),
        ({"file": "x", "temperature": -1}, "body.temperature", "greater_than_equal"),
        ({"file": "x", "repetitionPenalty": 0}, "body.repetitionPenalty", "greater_than"),
        ({"file": "x", "layoutMergeBboxesMode": "biggest"}, "body.layoutMergeBboxesMode", None),
        ({"file": "x", "promptLabel": "poem"}, "body.promptLabel", "literal_error"),
        ({"file": "x", "outputFormats": ["pdf"]}, "body.outputFormats.0", "literal_error"),
        ({"file": "x", "layoutThreshold": 1.5}, "body.layoutThreshold", None),
        ({"file": "x", "layoutUnclipRatio": -1}, "body.layoutUnclipRatio", None),
        ({"file": "x", "minPixels": 10, "maxPixels": 5}, "body", "value_error"),
    ],
)
def test_validation_errors_are_422_with_dotted_locations(client, body, loc, kind):
    r = client.post("/layout-parsing", json=body)
    assert r.status_code == 422
    errors = _errors(r)
    assert any(e["loc"] == loc or e["loc"].startswith(loc + ".") for e in errors), errors
    if kind:
        assert any(e["type"] == kind for e in errors), errors


def test_validation_error_echoes_logid(client):
    r = client.post("/layout-parsing", json={"fileType": 1, "logId": "mine"})
    assert r.status_code == 422 and r.json()["logId"] == "mine"


def test_malformed_json_is_422(client):
    r = client.post("/layout-parsing", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["errorCode"] == 422


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/nope", 404), ("GET", "/layout-parsing", 405)])
def test_unknown_paths_and_methods_use_the_envelope(client, method, path, status):
    r = client.request(method, path)
    assert r.status_code == status and r.json()["errorCode"] == status and r.json()["errorMsg"]


def test_undecodable_base64_is_invalid_input_file(client):
    r = client.post("/layout-parsing", json={"file": "!!!not base64!!!", "fileType": 1})
    assert r.status_code == 422 and "Invalid input file" in r.json()["errorMsg"]


def test_unwarping_request_is_a_clear_422(client):
    r = client.post("/layout-parsing", json={"file": b64(PNG), "useDocUnwarping": True})
    assert r.status_code == 422 and "unwarping" in r.json()["errorMsg"]


def test_fields_accepted_but_not_honoured_are_named_in_a_header_and_only_those(client):
    r = client.post(
        "/layout-parsing",
        json={"file": b64(PNG), "visualize": False, "useChartRecognition": True, "useSealRecognition": True,
              "restructurePages": True, "outputFormats": ["docx"]},
    )
    assert r.status_code == 200
    # Charts and seals need a VL backend; restructuring and DOCX exports are done with any.
    assert set(r.headers["x-unhonored-fields"].split(",")) == {"useChartRecognition", "useSealRecognition"}
    assert "docx" in r.json()["result"]["layoutParsingResults"][0]["exports"]
    assert r.json()["result"]["layoutParsingResults"][0]["prunedResult"]["model_settings"]["use_chart_recognition"] is False


def _layout_boxes(client, **fields) -> list[dict]:
    body = {"file": b64(report_png()), "visualize": False, **fields}
    return client.post("/layout-parsing", json=body).json()["result"]["layoutParsingResults"][0]["prunedResult"][
        "layout_det_res"
    ]["boxes"]


def test_layout_boxes_carry_order_numbers_and_int_coordinates(client):
    boxes = _layout_boxes(client)
    assert {b["label"] for b in boxes} >= {"paragraph_title", "text"}
    assert [b["order"] for b in boxes] == list(range(1, len(boxes) + 1))
    assert all(isinstance(v, int) for b in boxes for v in b["coordinate"])


def test_per_class_threshold_keys_by_label_name_and_id_are_honoured(client):
    only_titles = _layout_boxes(client, layoutThreshold={"text": 1.0, "17": 0.3})
    assert {b["label"] for b in only_titles} == {"paragraph_title"}


def test_unclip_ratio_pair_grows_boxes_around_their_centre(client):
    plain = _layout_boxes(client)
    wide = _layout_boxes(client, layoutUnclipRatio=[1.2, 1.0])
    assert len(plain) == len(wide)
    for a, b in zip(plain, wide):
        assert b["coordinate"][2] - b["coordinate"][0] > a["coordinate"][2] - a["coordinate"][0]
        assert abs(b["coordinate"][1] - a["coordinate"][1]) <= 1


def test_unknown_per_class_key_is_422(client):
    r = client.post("/layout-parsing", json={"file": b64(PNG), "layoutThreshold": {"no_such_label": 0.3}})
    assert r.status_code == 422 and "no_such_label" in r.json()["errorMsg"]


def test_layout_detection_off_gives_one_whole_page_block(client):
    r = client.post("/layout-parsing", json={"file": b64(PNG), "useLayoutDetection": False, "visualize": True})
    page = r.json()["result"]["layoutParsingResults"][0]
    pruned = page["prunedResult"]
    assert "layout_det_res" not in pruned
    [block] = pruned["parsing_res_list"]
    assert (block["block_label"], block["block_bbox"], block["block_order"]) == ("ocr", [0, 0, 900, 300], 1)
    assert "contract" in block["block_content"].lower()
    assert page["outputImages"] == {}


def test_format_block_content_puts_markdown_into_blocks(client):
    r = client.post("/layout-parsing", json={"file": b64(PNG), "useLayoutDetection": False, "promptLabel": "ocr",
                                            "formatBlockContent": True, "visualize": False})
    pruned = r.json()["result"]["layoutParsingResults"][0]["prunedResult"]
    assert pruned["model_settings"]["format_block_content"] is True
    assert "contract" in pruned["parsing_res_list"][0]["block_content"].lower()
