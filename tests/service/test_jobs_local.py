"""The Job API as the README's server runs it: configs/local.yaml, no Redis configured, so `ocrvl serve` runs a
private one (serve/local_redis.py). The official `paddleocr` client works against it with its defaults, and a job
goes on when that Redis is killed mid-job (the server starts it again over its append-only file)."""

from __future__ import annotations

import json
import os
import signal
from types import SimpleNamespace

import httpx
import pytest

from tests.service.conftest import continued_table_pdf, inked_pdf, poll, service_pids
from tests.service_secured.test_jobs import official_client

pytestmark = pytest.mark.service

JOBS = "/api/v2/ocr/jobs"
# Long enough to be caught mid-job: about a second a page here (docs/benchmarks.md).
PAGES = 16
PAGE_S = 5
# The lease of the job's replica lapses (local.yaml keeps the default `jobs.lease_s`), then it is taken over.
TAKEOVER_S = 120


def test_the_official_client_works_against_the_readme_server_with_its_defaults(service_url, tmp_path):
    document = tmp_path / "report.pdf"
    document.write_bytes(continued_table_pdf())
    # Auth is off locally; the client insists on some token all the same. No model named: the client's default.
    answer = official_client(SimpleNamespace(url=service_url), token="local", file_path=str(document))
    assert "error" not in answer, answer
    first, second = answer["pages"]
    assert "Quarterly Figures" in first["markdown_text"] and "South" in second["markdown_text"]


def test_a_job_goes_on_when_its_redis_is_killed_mid_job_and_has_every_page_once(service_url):
    answer = httpx.post(f"{service_url}{JOBS}", timeout=60, files={"file": ("pages.pdf", inked_pdf(PAGES))},
                        data={"model": "PaddleOCR-VL", "optionalPayload": json.dumps({"visualize": False})})
    job_id = answer.json()["data"]["jobId"]

    def status() -> dict:
        # While Redis is away the service answers 503: that is not the job's state.
        reply = httpx.get(f"{service_url}{JOBS}/{job_id}", timeout=60)
        return reply.json()["data"] if reply.status_code == 200 else {}

    poll(status, lambda s: s.get("state") == "running" and 0 < s["extractProgress"]["extractedPages"] < PAGES, 300)
    (redis_pid,) = service_pids(service_url, "redis-server")
    os.kill(redis_pid, signal.SIGKILL)
    done = poll(status, lambda s: s.get("state") in ("done", "failed"), TAKEOVER_S + PAGES * PAGE_S)
    assert done["state"] == "done", done
    lines = [json.loads(line) for line in httpx.get(done["resultUrl"]["jsonUrl"], timeout=60).text.splitlines()]
    assert [line["pageIndex"] for line in lines] == list(range(PAGES))
    assert service_pids(service_url, "redis-server") != [redis_pid]
