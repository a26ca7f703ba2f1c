"""Whole responses against PaddleX's own server (`paddlex --serve`, PaddleOCR-VL pipeline, layout detection off,
both servers' VLM calls going to one vLLM server with the tiny model): the same request gives the same shape,
settings, blocks and page data, and bad requests the same errors. Texts are not compared: the two servers send
the VLM differently encoded pictures, and a random model answers each differently."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pypdfium2 as pdfium
import pytest

from loadtest.bench_reference import running_reference
from tests.oracle.conftest import require_reference_venv
from tests.service.conftest import b64, report_png

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def servers(external) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    reference_python = require_reference_venv()
    with ExitStack() as stack:
        reference = stack.enter_context(running_reference(reference_python.parents[1], external.vlm_url,
                                                          external.workdir))
        yield (stack.enter_context(httpx.Client(base_url=reference, timeout=300)),
               stack.enter_context(httpx.Client(base_url=external.service_url, timeout=300)))


def _both(servers, body: dict) -> tuple[httpx.Response, httpx.Response]:
    reference, ours = servers
    return reference.post("/layout-parsing", json=body), ours.post("/layout-parsing", json=body)


def _shape(value):
    """Keys and types all the way down, values left out."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value[:1]]
    return type(value).__name__


def _two_page_pdf() -> bytes:
    document = pdfium.PdfDocument.new()
    for width, height in ((612, 792), (792, 612)):
        document.new_page(width, height)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_an_image_read_without_layout_gives_the_reference_response(servers):
    body = {"file": b64(report_png()), "fileType": 1, "useLayoutDetection": False, "promptLabel": "ocr",
            "maxNewTokens": 8, "visualize": False}
    theirs, ours = (r.json() for r in _both(servers, body))
    assert (theirs["errorCode"], ours["errorCode"]) == (0, 0)
    assert _shape(ours["result"]) == _shape(theirs["result"])
    page_theirs, page_ours = (r["result"]["layoutParsingResults"][0]["prunedResult"] for r in (theirs, ours))
    assert page_ours["model_settings"] == page_theirs["model_settings"]
    for block_ours, block_theirs in zip(page_ours["parsing_res_list"], page_theirs["parsing_res_list"], strict=True):
        block_ours.pop("block_content"), block_theirs.pop("block_content")
        assert block_ours == block_theirs
    assert ours["result"]["dataInfo"] == theirs["result"]["dataInfo"]


def test_a_pdf_gives_one_result_per_page_with_the_reference_page_data(servers):
    body = {"file": b64(_two_page_pdf()), "fileType": 0, "useLayoutDetection": False, "maxNewTokens": 4,
            "visualize": True}
    theirs, ours = (r.json()["result"] for r in _both(servers, body))
    assert ours["dataInfo"] == theirs["dataInfo"]
    assert len(ours["layoutParsingResults"]) == len(theirs["layoutParsingResults"]) == 2
    for page_ours, page_theirs in zip(ours["layoutParsingResults"], theirs["layoutParsingResults"]):
        assert set(page_ours) == set(page_theirs)
        assert page_ours["outputImages"] == page_theirs["outputImages"] == {}


@pytest.mark.parametrize("body", [{}, {"file": "aGVsbG8=", "fileType": 7}], ids=["missing file", "bad fileType"])
def test_invalid_requests_get_the_reference_validation_error(servers, body):
    theirs, ours = _both(servers, body)
    assert ours.status_code == theirs.status_code == 422
    errors_theirs, errors_ours = (json.loads(r.json()["errorMsg"]) for r in (theirs, ours))
    assert [(e["type"], e["loc"]) for e in errors_ours] == [(e["type"], e["loc"]) for e in errors_theirs]


def test_an_undecodable_image_is_a_422_as_in_the_reference(servers):
    theirs, ours = _both(servers, {"file": "aGVsbG8=", "fileType": 1})
    assert ours.status_code == theirs.status_code == 422
    assert ours.json()["errorCode"] == theirs.json()["errorCode"] == 422
