"""Faults under load: a stage replica killed while pages of several requests are in it. Every request in flight
gets an answer in the envelope (a success, or a 503 to retry), none outlives its deadline, and the service heals
by itself."""

from __future__ import annotations

import io
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from serve.metrics import scrape_sum
from tests.service.conftest import (
    ADMITTED,
    METRICS_WAIT_S,
    RECOVERY_WAIT_S,
    b64,
    replica_pids,
    report_png,
    wait_for,
)

pytestmark = pytest.mark.service

PAGES = 6
DEADLINE_S = 240
# Long enough for every request to have pages in both stages.
KILL_AFTER_S = 3
# An answer may come a little after the deadline (the 504 itself), never much later.
ANSWER_WITHIN_S = DEADLINE_S + 30


def _report_pdf(pages: int) -> bytes:
    page = Image.open(io.BytesIO(report_png())).convert("RGB")
    buffer = io.BytesIO()
    page.save(buffer, "PDF", save_all=True, append_images=[page] * (pages - 1), resolution=100)
    return buffer.getvalue()


@pytest.mark.parametrize("deployment, stage", [("RecognitionStage", "recognition"), ("LayoutStage", "layout")])
def test_a_replica_killed_under_load_loses_no_request_and_the_service_heals(
    client, service_url, metrics_url, deployment, stage
):
    payload = {"file": b64(_report_pdf(PAGES)), "fileType": 0, "visualize": False}

    def post(_: int) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        with httpx.Client(base_url=service_url, timeout=ANSWER_WITHIN_S) as own:
            response = own.post("/layout-parsing", json=payload, headers={"X-Request-Timeout": str(DEADLINE_S)})
        return response, time.monotonic() - started

    retries_before = scrape_sum(metrics_url, "ray_ocrvl_stage_retries_total", stage=stage)
    with ThreadPoolExecutor(ADMITTED) as pool:
        answers = [pool.submit(post, i) for i in range(ADMITTED)]
        time.sleep(KILL_AFTER_S)
        victim, *_ = replica_pids(service_url, deployment)
        os.kill(victim, signal.SIGKILL)
        results = [answer.result(timeout=ANSWER_WITHIN_S) for answer in answers]

    for response, seconds in results:
        assert seconds < ANSWER_WITHIN_S
        body = response.json()
        assert response.status_code in (200, 503), body
        assert body["errorCode"] == (0 if response.status_code == 200 else 503) and body["logId"]
        if response.status_code == 200:
            assert len(body["result"]["layoutParsingResults"]) == PAGES
        else:
            assert response.headers["Retry-After"]
    # The kill hit pages in flight, and they were sent again.
    wait_for(lambda: scrape_sum(metrics_url, "ray_ocrvl_stage_retries_total", stage=stage) > retries_before,
             METRICS_WAIT_S)
    wait_for(lambda: client.get("/health/ready").status_code == 200, RECOVERY_WAIT_S)
    wait_for(lambda: set(replica_pids(service_url, deployment)) - {victim}, RECOVERY_WAIT_S)
    assert client.post("/layout-parsing", json={"file": b64(report_png()), "visualize": False}).status_code == 200
