"""`Accept: application/x-ndjson` on `/layout-parsing`: one line per page as soon as it is written, then the
envelope; what can be refused before the first page still gets its own status."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.service.conftest import b64, continued_table_pdf, inked_pdf

pytestmark = pytest.mark.service

NDJSON = {"Accept": "application/x-ndjson"}
PAGES = 6


def _stream(service_url: str, body: dict) -> tuple[httpx.Response, list[tuple[float, dict]]]:
    """The response and its lines, each with the time it arrived."""
    lines = []
    with httpx.stream("POST", f"{service_url}/layout-parsing", json=body, headers=NDJSON, timeout=600) as response:
        for line in response.iter_lines():
            if line:
                lines.append((time.monotonic(), json.loads(line)))
    return response, lines


def test_pages_arrive_one_line_each_before_the_last_is_done_then_the_envelope(service_url):
    response, lines = _stream(service_url, {"file": b64(inked_pdf(PAGES)), "visualize": False})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
    *pages, (last_at, last) = lines
    assert sorted(line["pageIndex"] for _, line in pages) == list(range(PAGES))
    assert all("markdown" in line["result"] and "prunedResult" in line["result"] for _, line in pages)
    assert last["errorCode"] == 0 and last["result"]["dataInfo"]["numPages"] == PAGES
    # Streamed, not buffered: the first page came before the answer ended. A buffered answer's lines arrive
    # together, within a millisecond; streamed pages at least a page's work apart, unless the machine is starved.
    assert pages[0][0] < last_at - 0.2


def test_a_stream_with_restructuring_gives_the_restructured_pages_in_order(service_url):
    response, lines = _stream(service_url, {"file": b64(continued_table_pdf()), "visualize": False,
                                            "restructurePages": True})
    *pages, (_, last) = lines
    assert [line["pageIndex"] for _, line in pages] == [0, 1] and last["errorCode"] == 0
    blocks = pages[1][1]["result"]["prunedResult"]["parsing_res_list"]
    assert all("global_block_id" in block for block in blocks)


def test_a_file_that_is_not_one_is_refused_before_the_stream_begins(service_url):
    response = httpx.post(f"{service_url}/layout-parsing", json={"file": b64(b"not a pdf"), "fileType": 0},
                          headers=NDJSON, timeout=60)
    assert response.status_code == 422 and response.json()["errorCode"] == 422


def test_a_deadline_passed_mid_stream_ends_it_with_a_504_line(service_url):
    body = {"file": b64(inked_pdf(40)), "visualize": False}
    with httpx.stream("POST", f"{service_url}/layout-parsing", json=body, timeout=120,
                      headers={**NDJSON, "X-Request-Timeout": "3"}) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert response.status_code == 200
    assert lines[-1]["errorCode"] == 504 and len(lines) < 41
