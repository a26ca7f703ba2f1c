"""The Job API (`/api/v2/ocr/jobs`) driven by the official `paddleocr` client from the reference venv, against the
app of test_auth_and_quotas (API keys, Redis, an S3 result store, two ingress replicas): documents by upload and
by URL, every page with its Markdown, the client's error classes, batches, and a job whose replica is killed; and
the extensions: cancel, idempotency, pages while the job runs, damaged pages, webhooks, per-client limits."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw
from prometheus_client.parser import text_string_to_metric_families

from serve.jobs.webhooks import SIGNATURE_HEADER, verify_signature
from serve.metrics import scrape_sum
from tests.oracle.conftest import require_reference_venv
from tests.service.conftest import (
    JOB_TAKEOVERS,
    METRICS_WAIT_S,
    continued_table_pdf,
    inked_pdf,
    poll,
    replica_pids,
    wait_for,
)
from tests.service_secured.conftest import (
    JOB_LEASE_S,
    JOB_PAGES_PER_DAY,
    JOBS_IN_FLIGHT,
    KEYS,
    PAGES_PER_LEASE,
    WEBHOOK_SECRET,
)

pytestmark = pytest.mark.service

CLIENT = Path(__file__).with_name("official_client.py")
JOBS = "/api/v2/ocr/jobs"
TOKEN = KEYS["jobs"]
# The killed job's document: long enough to be caught mid-job. About a second a page here (docs/benchmarks.md).
PAGES = 12
# The cancelled job's document: far from done when it is cancelled.
LONG_PAGES = 60
PAGE_S = 5
# Ray replacing two ingress replicas, and the job's lease lapsing.
RECOVERY_S = 120 + 2 * JOB_LEASE_S


def official_client(secured, **call) -> dict:
    """One call of the official client in the reference venv (see official_client.py)."""
    args = {"base_url": secured.url, "token": TOKEN, "call": "parse", **call}
    done = subprocess.run([str(require_reference_venv()), str(CLIENT), json.dumps(args)], capture_output=True,
                          text=True, timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("job-documents")
    (folder / "report.pdf").write_bytes(continued_table_pdf())
    (folder / "pages.pdf").write_bytes(inked_pdf(PAGES))
    (folder / "long.pdf").write_bytes(inked_pdf(LONG_PAGES))
    return folder


@pytest.fixture(scope="module")
def file_server(documents: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(documents)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_the_official_client_parses_an_uploaded_pdf_page_by_page(secured, documents):
    answer = official_client(secured, file_path=str(documents / "report.pdf"))
    assert "error" not in answer, answer
    first, second = answer["pages"]
    assert "Quarterly Figures" in first["markdown_text"] and "South" in second["markdown_text"]
    assert answer["data_info"]["numPages"] == 2


def test_the_official_client_parses_a_pdf_by_url_with_page_ranges_and_restructuring(secured, file_server):
    answer = official_client(secured, file_url=f"{file_server}/report.pdf", page_ranges="1-2",
                             options={"restructurePages": True})
    assert "error" not in answer, answer
    first, second = answer["pages"]
    tables = [b for page in (first, second) for b in page["pruned_result"]["parsing_res_list"]
              if b["block_label"] == "table"]
    assert "South 13" in tables[0]["block_content"] and tables[1]["block_content"] == ""
    assert tables[1]["global_group_id"] == tables[0]["global_block_id"]


def test_the_clients_error_classes_come_out_right(secured, documents):
    wrong_token = official_client(secured, token="not-a-key", file_path=str(documents / "report.pdf"))
    assert wrong_token["error"] == "AuthError"
    bad_option = official_client(secured, file_path=str(documents / "report.pdf"),
                                 options={"layoutShapeMode": "bogus"})
    assert bad_option["error"] == "InvalidRequestError" and "layoutShapeMode" in bad_option["message"]


@pytest.mark.parametrize("body", [
    {"fileUrl": "https://example.com/a.pdf", "model": "PaddleOCR-VL-9"},
    {"fileUrl": "not a url", "model": "PaddleOCR-VL"},
    {"model": "PaddleOCR-VL"},
    {"fileUrl": "https://example.com/a.pdf", "model": "PaddleOCR-VL", "pageRanges": "3-1"},
])
def test_a_bad_submission_is_a_400_in_the_envelope(secured, body):
    answer = httpx.post(f"{secured.url}{JOBS}", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert answer.status_code == 400 and answer.json()["errorCode"] == 400


def test_an_unknown_job_is_a_404_in_the_envelope(secured):
    answer = httpx.get(f"{secured.url}{JOBS}/no-such-job", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert answer.status_code == 404 and answer.json()["errorCode"] == 404


def test_a_batch_lists_its_jobs(secured, file_server):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"fileUrl": f"{file_server}/report.pdf", "model": "PaddleOCR-VL", "batchId": "batch-1"}
    ids = [httpx.post(f"{secured.url}{JOBS}", json=body, headers=headers, timeout=60).json()["data"]["jobId"]
           for _ in range(2)]
    answer = official_client(secured, call="batch", batch_id="batch-1")
    assert [job["job_id"] for job in answer["jobs"]] == ids


def _status(secured, job_id: str) -> dict:
    # While replicas are replaced the service may not answer: that is not the job's state.
    try:
        answer = httpx.get(f"{secured.url}{JOBS}/{job_id}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        return answer.json().get("data", {})
    except httpx.HTTPError:
        return {}


def test_resubmitting_with_the_same_idempotency_key_returns_the_same_job(secured, file_server):
    headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "report-once"}
    body = {"fileUrl": f"{file_server}/report.pdf", "model": "PaddleOCR-VL"}
    first, again = (httpx.post(f"{secured.url}{JOBS}", json=body, headers=headers, timeout=60).json()["data"]["jobId"]
                    for _ in range(2))
    assert first == again


def test_a_cancelled_job_ends_failed_and_stops_reading_pages(secured, file_server):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"fileUrl": f"{file_server}/long.pdf", "model": "PaddleOCR-VL", "optionalPayload": {"visualize": False}}
    job_id = httpx.post(f"{secured.url}{JOBS}", json=body, headers=headers, timeout=60).json()["data"]["jobId"]
    poll(lambda: _status(secured, job_id), lambda s: s.get("extractProgress", {}).get("extractedPages", 0) > 0, 300)
    cancelled = httpx.delete(f"{secured.url}{JOBS}/{job_id}", headers=headers, timeout=60).json()["data"]
    assert cancelled["state"] == "failed" and cancelled["errorMsg"] == "Cancelled by the client"
    # The runner notices at its next lease renewal; after that no page is recorded any more.
    time.sleep(JOB_LEASE_S)
    settled = _status(secured, job_id)["extractProgress"]["extractedPages"]
    time.sleep(JOB_LEASE_S)
    final = _status(secured, job_id)
    assert final["state"] == "failed" and final["extractProgress"]["extractedPages"] == settled < LONG_PAGES


def test_a_job_whose_replica_is_killed_completes_with_every_page_once(secured, file_server):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"fileUrl": f"{file_server}/pages.pdf", "model": "PaddleOCR-VL", "optionalPayload": {"visualize": False}}
    job_id = httpx.post(f"{secured.url}{JOBS}", json=body, headers=headers, timeout=60).json()["data"]["jobId"]

    def status() -> dict:
        return _status(secured, job_id)

    poll(status, lambda s: s.get("state") == "running" and 0 < s["extractProgress"]["extractedPages"] < PAGES, 300)
    # Either ingress replica may be running the job: kill both. Ray replaces them, the lease lapses, and a new
    # replica takes the job over from the pages already recorded.
    for pid in replica_pids(secured.url, "Ingress"):
        os.kill(pid, signal.SIGKILL)
    done = poll(status, lambda s: s.get("state") in ("done", "failed"), RECOVERY_S + PAGES * PAGE_S)
    assert done["state"] == "done", done
    lines = httpx.get(done["resultUrl"]["jsonUrl"], timeout=60).text.splitlines()
    assert len(lines) == PAGES and done["extractProgress"]["extractedPages"] == PAGES
    assert all(len(json.loads(line)["result"]["layoutParsingResults"]) == 1 for line in lines)
    # The killed replicas' ranges were taken over once their leases lapsed.
    wait_for(lambda: scrape_sum(secured.metrics_url, JOB_TAKEOVERS) >= 1, METRICS_WAIT_S)


def _headers(client: str = "jobs") -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[client]}"}


def _submit(secured, body: dict, client: str = "jobs") -> httpx.Response:
    return httpx.post(f"{secured.url}{JOBS}", json=body, headers=_headers(client), timeout=60)


def _wait_until_ended(secured, job_id: str, timeout_s: float) -> dict:
    return poll(lambda: _status(secured, job_id), lambda s: s.get("state") in ("done", "failed"), timeout_s)


def tiff_with_a_damaged_page(pages: int, damaged: int) -> bytes:
    """A multi-page TIFF (a fax or scanner's output) whose page `damaged` (0-based) does not decode: its compressed
    strips are overwritten, while every page's header, and so the page count and sizes, stay intact."""
    frames = []
    for number in range(1, pages + 1):
        frame = Image.new("RGB", (800, 400), "white")
        ImageDraw.Draw(frame).text((40, 150), f"Page number {number}", fill="black", font_size=48)
        frames.append(frame)
    buffer = io.BytesIO()
    frames[0].save(buffer, format="TIFF", save_all=True, append_images=frames[1:], compression="tiff_adobe_deflate")
    data = bytearray(buffer.getvalue())
    tiff = Image.open(io.BytesIO(bytes(data)))
    tiff.seek(damaged)
    for offset, length in zip(tiff.tag_v2[273], tiff.tag_v2[279], strict=True):  # StripOffsets, StripByteCounts
        data[offset:offset + length] = b"\xab" * length
    return bytes(data)


def test_a_damaged_page_is_recorded_with_its_error_and_the_job_goes_on_without_it(secured):
    document = tiff_with_a_damaged_page(pages=3, damaged=1)
    answer = httpx.post(f"{secured.url}{JOBS}", headers=_headers(), timeout=60,
                        files={"file": ("scan.tiff", document)}, data={"model": "PaddleOCR-VL"})
    done = _wait_until_ended(secured, answer.json()["data"]["jobId"], 300)
    assert done["state"] == "done", done
    (failed,) = done["failedPages"]
    assert failed["pageIndex"] == 1 and "damaged" in failed["errorMsg"]
    lines = [json.loads(line) for line in httpx.get(done["resultUrl"]["jsonUrl"], timeout=60).text.splitlines()]
    assert [line["pageIndex"] for line in lines] == [0, 2]
    markdown = httpx.get(done["resultUrl"]["markdownUrl"], timeout=60).text
    assert markdown == "\n\n".join(line["result"]["layoutParsingResults"][0]["markdown"]["text"] for line in lines)


def test_pages_are_served_in_order_while_the_job_runs(secured, file_server):
    body = {"fileUrl": f"{file_server}/pages.pdf", "model": "PaddleOCR-VL", "optionalPayload": {"visualize": False}}
    job_id = _submit(secured, body).json()["data"]["jobId"]
    served: list[int] = []
    states_with_pages: set[str] = set()
    after = 0
    deadline = time.monotonic() + PAGES * PAGE_S + 300
    while after < PAGES:
        assert time.monotonic() < deadline, f"pages served: {served}"
        answer = httpx.get(f"{secured.url}{JOBS}/{job_id}/pages", params={"after": after}, headers=_headers(),
                           timeout=60).json()["data"]
        for page in answer["pages"]:
            served.append(page["pageIndex"])
            assert len(page["result"]["layoutParsingResults"]) == 1
        if answer["pages"]:
            states_with_pages.add(answer["state"])
        after = answer["next"]
        time.sleep(0.5)
    assert served == list(range(PAGES))
    assert "running" in states_with_pages  # the first pages came before the job was done


def test_a_bad_cursor_for_pages_is_a_4xx(secured):
    answer = httpx.get(f"{secured.url}{JOBS}/no-such-job/pages", params={"after": -1}, headers=_headers(), timeout=60)
    assert answer.status_code == 422 and answer.json()["errorCode"] == 422


def test_another_clients_job_does_not_exist_for_it(secured, file_server):
    body = {"fileUrl": f"{file_server}/report.pdf", "model": "PaddleOCR-VL"}
    job_id = _submit(secured, body).json()["data"]["jobId"]
    for call in (httpx.get, httpx.delete):
        answer = call(f"{secured.url}{JOBS}/{job_id}", headers=_headers("burst"), timeout=60)
        assert answer.status_code == 404
    assert _wait_until_ended(secured, job_id, 300)["state"] == "done"


class WebhookReceiver(ThreadingHTTPServer):
    """Answers the first delivery with 500 and the next with 200, keeping what came."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        super().__init__(("127.0.0.1", 0), self._Handler)

    class _Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver: WebhookReceiver = self.server  # type: ignore[assignment]
            receiver.deliveries.append((dict(self.headers), body))
            self.send_response(500 if len(receiver.deliveries) == 1 else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    yield receiver
    receiver.shutdown()


def test_a_webhook_gets_the_signed_final_status_retried_after_a_500(secured, file_server, webhook_receiver):
    url = f"http://127.0.0.1:{webhook_receiver.server_port}/hook"
    body = {"fileUrl": f"{file_server}/report.pdf", "model": "PaddleOCR-VL", "webhookUrl": url}
    job_id = _submit(secured, body).json()["data"]["jobId"]
    assert _wait_until_ended(secured, job_id, 300)["state"] == "done"
    poll(lambda: len(webhook_receiver.deliveries), lambda n: n >= 2, 60)
    (_, refused), (headers, delivered) = webhook_receiver.deliveries[:2]
    assert refused == delivered and len(webhook_receiver.deliveries) == 2
    assert verify_signature(WEBHOOK_SECRET.encode(), delivered, headers[SIGNATURE_HEADER], now=time.time())
    status = json.loads(delivered)
    assert status["jobId"] == job_id and status["state"] == "done" and status["resultUrl"]["jsonUrl"]


@pytest.mark.parametrize("target", ["http://10.1.2.3/hook", "ftp://127.0.0.1/hook", "http://169.254.169.254/"])
def test_a_webhook_that_may_not_be_called_is_refused_at_submission(secured, target):
    body = {"fileUrl": "https://example.com/a.pdf", "model": "PaddleOCR-VL", "webhookUrl": target}
    answer = _submit(secured, body)
    assert answer.status_code == 400 and "webhookUrl" in answer.json()["errorMsg"]


def test_a_client_past_its_jobs_in_flight_is_told_to_come_back_and_a_cancel_frees_a_place(secured, file_server):
    body = {"fileUrl": f"{file_server}/long.pdf", "model": "PaddleOCR-VL", "optionalPayload": {"visualize": False}}
    jobs = [_submit(secured, body, "burst").json()["data"]["jobId"] for _ in range(JOBS_IN_FLIGHT)]
    try:
        refused = _submit(secured, body, "burst")
        assert refused.status_code == 429 and refused.headers["Retry-After"]
        assert str(JOBS_IN_FLIGHT) in refused.json()["errorMsg"]
        httpx.delete(f"{secured.url}{JOBS}/{jobs.pop()}", headers=_headers("burst"), timeout=60)
        jobs.append(_submit(secured, body, "burst").json()["data"]["jobId"])
    finally:
        for job_id in jobs:
            httpx.delete(f"{secured.url}{JOBS}/{job_id}", headers=_headers("burst"), timeout=60)


def test_a_job_past_its_clients_daily_page_quota_fails_with_the_quota_message(secured, file_server):
    body = {"fileUrl": f"{file_server}/pages.pdf", "model": "PaddleOCR-VL"}
    assert PAGES > JOB_PAGES_PER_DAY
    job_id = _submit(secured, body, "job-pages").json()["data"]["jobId"]
    ended = poll(lambda: httpx.get(f"{secured.url}{JOBS}/{job_id}", headers=_headers("job-pages"),
                                   timeout=60).json()["data"],
                 lambda s: s["state"] in ("done", "failed"), 300)
    assert ended["state"] == "failed" and "Daily page quota exceeded" in ended["errorMsg"]


def _job_pages_by_replica(metrics_url: str) -> dict[str, float]:
    pages: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(metrics_url, timeout=30).text):
        for sample in family.samples:
            if sample.name == "ray_ocrvl_job_pages_total" and sample.labels.get("outcome") == "done":
                pages[sample.labels["replica"]] = pages.get(sample.labels["replica"], 0) + sample.value
    return pages


def test_one_jobs_page_ranges_spread_over_both_ingress_replicas(secured, file_server):
    before = _job_pages_by_replica(secured.metrics_url)
    body = {"fileUrl": f"{file_server}/pages.pdf", "model": "PaddleOCR-VL", "optionalPayload": {"visualize": False}}
    job_id = _submit(secured, body).json()["data"]["jobId"]
    done = _wait_until_ended(secured, job_id, PAGES * PAGE_S + 300)
    assert done["state"] == "done" and done["extractProgress"]["extractedPages"] == PAGES
    assert PAGES // PAGES_PER_LEASE > 2

    def moved() -> dict[str, float]:
        after = _job_pages_by_replica(secured.metrics_url)
        return {replica: pages - before.get(replica, 0) for replica, pages in after.items()
                if pages > before.get(replica, 0)}

    # Replicas report their metrics every couple of seconds.
    per_replica = poll(moved, lambda m: sum(m.values()) >= PAGES, 60)
    assert len(per_replica) == 2, per_replica
