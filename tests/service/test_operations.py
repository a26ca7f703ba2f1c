"""Operating the running app: its metrics move with the work, readiness follows the stages, overload is shed
fast with Retry-After, and a request past its deadline is answered 504."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from serve.metrics import scrape_sum
from tests.deploy_manifests import dashboard_metric_names, load_dashboard
from tests.service.conftest import (
    ADMISSION,
    ADMITTED,
    JOB_TAKEOVERS,
    METRICS_WAIT_S,
    PAGE_CACHE_SERIES,
    RECOVERY_WAIT_S,
    VL_SERIES,
    b64,
    missing_series,
    poll,
    replica_pids,
    report_png,
    wait_for,
    when_quiet,
)

pytestmark = pytest.mark.service

# Generous for a shared 2-core machine: a rejection must never wait on model work (the benchmark measures it).
REJECT_WITHIN_S = 10


def _parse(client: httpx.Client, **fields) -> httpx.Response:
    return client.post("/layout-parsing", json={"file": b64(report_png()), "visualize": False, **fields})


def test_a_parsed_page_moves_the_request_page_block_and_stage_metrics(client, metrics_url):
    def calls(stage: str) -> float:
        # Every attempt is timed; one on a replica an earlier test killed is retried, and counted there too.
        return (scrape_sum(metrics_url, "ray_ocrvl_stage_duration_seconds_count", stage=stage)
                - scrape_sum(metrics_url, "ray_ocrvl_stage_retries_total", stage=stage))

    def figures() -> dict[str, float]:
        return {
            "ok": scrape_sum(metrics_url, "ray_ocrvl_http_requests_total", endpoint="/layout-parsing", status="200"),
            "pages": scrape_sum(metrics_url, "ray_ocrvl_pages_total"),
            "text_blocks": scrape_sum(metrics_url, "ray_ocrvl_blocks_total", label="text"),
            "layout": calls("layout"),
            "recognition": calls("recognition"),
            "batches": scrape_sum(metrics_url, "ray_ocrvl_layout_batch_size_count"),
        }

    before = when_quiet(figures, metrics_url)
    response = _parse(client)
    assert response.status_code == 200
    text_blocks = sum(b["block_label"] == "text" for b in
                      response.json()["result"]["layoutParsingResults"][0]["prunedResult"]["parsing_res_list"])
    expected = {"ok": 1, "pages": 1, "text_blocks": text_blocks, "layout": 1, "recognition": 1, "batches": 1}
    poll(lambda: {k: v - before[k] for k, v in figures().items()}, lambda moved: moved == expected, METRICS_WAIT_S)


def test_refused_requests_are_counted_by_status(client, metrics_url):
    def refused() -> float:
        return scrape_sum(metrics_url, "ray_ocrvl_http_requests_total", endpoint="/layout-parsing", status="422")

    before = refused()
    assert client.post("/layout-parsing", json={"file": "not base64!", "fileType": 1}).status_code == 422
    wait_for(lambda: refused() - before == 1, METRICS_WAIT_S)


def test_the_dashboard_queries_only_metrics_the_service_exports(client, metrics_url):
    # Errors too, so the error series exist; and a job, for the jobs' series.
    assert _parse(client).status_code == 200
    assert client.post("/layout-parsing", json={"file": "", "fileType": 1}).status_code == 422
    assert client.get("/no-such-endpoint").status_code == 404
    job_id = client.post("/api/v2/ocr/jobs", files={"file": ("page.png", report_png())},
                         data={"model": "PaddleOCR-VL"}).json()["data"]["jobId"]
    poll(lambda: client.get(f"/api/v2/ocr/jobs/{job_id}").json()["data"]["state"], lambda s: s == "done", 300)
    # The VLM's series come from the VL configs (tests/service_vl); GPU ones from the DCGM exporter. A takeover
    # needs a job's replica to die: tests/service_secured/test_jobs.py's replica kill checks that series. The page
    # cache is off here: tests/service_cache checks its series.
    wanted = {n for n in dashboard_metric_names(load_dashboard()) if n.startswith(("ray_ocrvl_", "ray_serve_"))}
    assert not missing_series(metrics_url, wanted - VL_SERIES - {JOB_TAKEOVERS, PAGE_CACHE_SERIES}, METRICS_WAIT_S)


def test_over_capacity_requests_get_a_fast_429_with_retry_after_while_admitted_ones_succeed(service_url):
    def timed_post(_: int) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        with httpx.Client(base_url=service_url, timeout=300) as own:
            response = _parse(own)
        return response, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=3 * ADMITTED) as pool:
        results = list(pool.map(timed_post, range(3 * ADMITTED)))
    rejected = [(r, s) for r, s in results if r.status_code == 429]
    served = [r for r, _ in results if r.status_code != 429]
    assert rejected and len(served) >= ADMITTED
    assert all(r.status_code == 200 for r in served)
    for response, seconds in rejected:
        assert response.headers["Retry-After"] == str(ADMISSION.retry_after_s)
        assert response.json()["errorCode"] == 429
        assert seconds < REJECT_WITHIN_S


def test_a_request_past_its_deadline_is_answered_504(client):
    response = client.post("/layout-parsing", json={"file": b64(report_png()), "logId": "late-1"},
                           headers={"X-Request-Timeout": "0.05"})
    assert response.status_code == 504
    assert response.json()["errorCode"] == 504 and response.json()["logId"] == "late-1"
    assert _parse(client).status_code == 200


@pytest.mark.parametrize("value", ["soon", "0", "-3", "nan"])
def test_a_bad_timeout_header_is_a_422(client, value):
    response = client.post("/layout-parsing", json={"file": b64(report_png())}, headers={"X-Request-Timeout": value})
    assert response.status_code == 422
    assert "X-Request-Timeout" in response.json()["errorMsg"]


def test_readiness_is_503_while_a_stage_has_no_replica_and_recovers(client, service_url):
    assert client.get("/health/ready").json()["errorMsg"] == "Ready"
    [layout] = replica_pids(service_url, "LayoutStage")
    os.kill(layout, signal.SIGKILL)

    not_ready = poll(lambda: client.get("/health/ready"), lambda r: r.status_code == 503, METRICS_WAIT_S)
    assert not_ready.json()["errorCode"] == 503 and "LayoutStage" in not_ready.json()["errorMsg"]
    assert client.get("/health").status_code == 200

    wait_for(lambda: client.get("/health/ready").status_code == 200, RECOVERY_WAIT_S)
    assert _parse(client).status_code == 200
