"""End to end through Ray Serve with PaddleOCR-VL (tiny random weights) in vLLM: wiring, not accuracy."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest

from loadtest.processes import server_pid, session_of, session_processes
from loadtest.recovery import RecoveryBound, readiness, watch_replacement
from serve.metrics import scrape_sum
from tests.conftest import EVAL
from tests.deploy_manifests import dashboard_metric_names, load_dashboard
from tests.service.conftest import (
    RECOVERY_WAIT_S,
    VL_SERIES,
    b64,
    file_b64,
    missing_series,
    replica_pids,
    report_png,
    wait_for,
)
from tests.service_vl.conftest import VL_CONFIG, VlService

pytestmark = pytest.mark.service

TABLE_PAGE = EVAL / "docling_pdf" / "sources" / "2305.03393v1-pg9.pdf"


def _page(response) -> dict:
    assert response.status_code == 200, response.text[:500]
    return response.json()["result"]["layoutParsingResults"][0]


def test_every_text_region_is_read_by_the_vlm(vl_client):
    page = _page(vl_client.post("/layout-parsing", json={"file": file_b64(TABLE_PAGE), "visualize": False}))
    blocks = page["prunedResult"]["parsing_res_list"]
    labels = {b["block_label"] for b in blocks}
    assert {"text", "table"} <= labels
    leaders = [b for b in blocks if b["block_label"] in ("text", "paragraph_title", "table") and b["group_id"] == b["block_id"]]
    assert leaders and all(b["block_content"] for b in leaders)
    # Merged groups: members point at their group's first block, which holds the text.
    for block in blocks:
        assert blocks[block["group_id"]]["group_id"] == block["group_id"]


def test_chart_recognition_is_honoured_by_the_vl_backend(vl_client):
    r = vl_client.post("/layout-parsing", json={"file": b64(report_png()), "useChartRecognition": True,
                                                "visualize": False})
    assert "x-unhonored-fields" not in r.headers
    assert _page(r)["prunedResult"]["model_settings"]["use_chart_recognition"] is True


def test_layout_off_reads_the_whole_page_with_the_prompt_label(vl_client):
    page = _page(vl_client.post("/layout-parsing", json={"file": b64(report_png()), "useLayoutDetection": False,
                                                          "promptLabel": "formula", "maxNewTokens": 8,
                                                          "visualize": False}))
    [block] = page["prunedResult"]["parsing_res_list"]
    assert block["block_label"] == "formula" and block["block_bbox"] == [0, 0, 850, 1100]


def test_concurrent_requests_through_the_engine_all_succeed(vl_client):
    payload = {"file": b64(report_png()), "visualize": False, "maxNewTokens": 16}
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: vl_client.post("/layout-parsing", json=payload), range(8)))
    assert [r.status_code for r in responses] == [200] * 8


def test_vl_field_validation_still_answers_422(vl_client):
    r = vl_client.post("/layout-parsing", json={"file": b64(report_png()), "vlmExtraArgs": {"ocr_min_pixels": -5}})
    assert r.status_code == 422


# A counter Ray exports only once it has counted something: vLLM preempts only when its KV cache overflows.
NOT_IN_A_HEALTHY_RUN = {"ray_vllm_num_preemptions_total"}


def test_the_engine_and_the_vl_stage_export_the_dashboards_series(vl_client, vl_metrics_url):
    wanted = {n for n in dashboard_metric_names(load_dashboard()) if n.startswith("ray_vllm_")} | VL_SERIES
    busy = threading.Event()

    def keep_the_engine_busy() -> None:
        # vLLM sets its gauges (running, waiting, KV cache) while it works, and Ray drops a gauge soon after its
        # last update, so the check runs while pages are being read.
        while not busy.is_set():
            assert vl_client.post("/layout-parsing", json={"file": b64(report_png()), "visualize": False}).status_code == 200

    with ThreadPoolExecutor(max_workers=1) as pool:
        worker = pool.submit(keep_the_engine_busy)
        try:
            assert not missing_series(vl_metrics_url, wanted - NOT_IN_A_HEALTHY_RUN, timeout_s=60)
        finally:
            busy.set()
        worker.result()
    assert scrape_sum(vl_metrics_url, "ray_ocrvl_vl_tokens_total", kind="generated") > 0
    assert scrape_sum(vl_metrics_url, "ray_ocrvl_vl_calls_total", task="ocr") > 0


# The replacement replica's start, against the whole service's measured start on this machine (all three
# replicas and Ray itself): one replica starting alone is faster, but this machine is shared and noisy.
START_MARGIN = 2.0


def engine_children(replica: int) -> list[psutil.Process]:
    """The processes a recognition replica started besides multiprocessing's resource tracker: vLLM's engine core,
    whatever its title. setproctitle cannot always rewrite a spawned process's command line, and CI has shown the
    engine as a bare `python` while the replica served."""
    try:
        children = psutil.Process(replica).children()
    except psutil.NoSuchProcess:
        return []
    return [child for child in children if "multiprocessing.resource_tracker" not in " ".join(child.cmdline())]


def running_engine(service: VlService, client: httpx.Client, bound: RecoveryBound) -> int:
    """The pid of the recognition replica's engine, once the service is ready. A loaded machine can fail a health
    check and have Ray Serve replace the replica just before this test: that is waited out within one replacement's
    bound."""
    deadline = time.monotonic() + bound.total_s
    wait_for(lambda: readiness(client).status == 200, bound.total_s)
    while True:
        replicas = replica_pids(service.url, "RecognitionStage")
        engines = [engine for replica in replicas for engine in engine_children(replica)]
        if (len(replicas), len(engines)) == (1, 1) or time.monotonic() > deadline:
            break
        time.sleep(1)
    session = session_of(server_pid(service.url))
    assert len(engines) == 1, (
        f"replicas {replicas}; their children {[(e.pid, e.name(), e.cmdline()[:3]) for e in engines]}; "
        f"readiness {readiness(client).stages}; the service's processes {sorted(session_processes(session).values())}"
    )
    return engines[0].pid


def test_an_engine_killed_under_load_fails_requests_with_503_and_its_replica_is_replaced(vl_service, vl_client):
    bound = RecoveryBound.of(VL_CONFIG, "RecognitionStage", START_MARGIN * vl_service.started_in_s)
    payload = {"file": b64(report_png()), "visualize": False, "maxNewTokens": 16}
    answers: list[httpx.Response] = []
    stop = threading.Event()

    def keep_posting() -> None:
        with httpx.Client(base_url=vl_service.url, timeout=300) as own:
            while not stop.is_set():
                answers.append(own.post("/layout-parsing", json=payload))

    engine = running_engine(vl_service, vl_client, bound)
    with ThreadPoolExecutor(max_workers=4) as pool:
        posters = [pool.submit(keep_posting) for _ in range(4)]
        wait_for(lambda: len(answers) >= 4, RECOVERY_WAIT_S)
        os.kill(engine, signal.SIGKILL)
        killed = time.monotonic()
        # Requests meet the dead engine at once, until Ray Serve replaces the replica.
        wait_for(lambda: any(a.status_code == 503 for a in answers), bound.detection_s)
        stop.set()
        for poster in posters:
            poster.result()  # every request was answered: none hung, none was dropped

    for answer in answers:
        body = answer.json()
        assert answer.status_code in (200, 503) and body["errorCode"] == (0 if answer.status_code == 200 else 503)
        if answer.status_code == 503:
            assert answer.headers["Retry-After"]
            assert body["errorMsg"] == "The recognition stage is unavailable: the recognition engine died; retry later"
    # Ray Serve takes the replica out of service within the detection bound, and a new one is running within the
    # stop and start bounds (loadtest/recovery.py derives them from configs/vl-cpu-tiny.yaml).
    replacement = watch_replacement(vl_client, "RecognitionStage", killed, bound)
    assert replacement.noticed_s <= bound.detection_s and replacement.ready_s <= bound.total_s
    assert vl_client.post("/layout-parsing", json=payload).status_code == 200
