"""`ocrvl serve` on SIGTERM drains: the request in flight is answered in full, new ones get 503 with Retry-After,
and the server then exits by itself. It runs its own app, since the drain ends it."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from loadtest.processes import server_pid
from loadtest.service import running_service
from tests.conftest import EVAL
from tests.service.conftest import ADMISSION, b64, file_b64

pytestmark = pytest.mark.service

# Five dense pages: tens of seconds of OCR on this machine, so the signal surely comes while it is in flight.
LONG_PDF = EVAL / "docling_pdf" / "sources" / "multi_page.pdf"
EXIT_WAIT_S = 120


def test_sigterm_finishes_the_request_in_flight_refuses_new_ones_and_exits(tmp_path, eval_dir):
    with running_service(tmp_path) as url, ThreadPoolExecutor(max_workers=1) as pool:
        in_flight = pool.submit(httpx.post, f"{url}/layout-parsing", timeout=600,
                                json={"file": file_b64(LONG_PDF), "fileType": 0, "visualize": False})
        server = server_pid(url)
        time.sleep(3)
        os.kill(server, signal.SIGTERM)

        refused = httpx.post(f"{url}/layout-parsing", json={"file": b64(b"%PDF"), "fileType": 0}, timeout=60)
        deadline = time.monotonic() + EXIT_WAIT_S
        while refused.status_code != 503:
            # The drain reaches the ingress through a redeploy, which takes a moment.
            assert time.monotonic() < deadline, "never refused"
            time.sleep(0.2)
            refused = httpx.post(f"{url}/layout-parsing", json={"file": b64(b"%PDF"), "fileType": 0}, timeout=60)
        assert refused.headers["Retry-After"] == str(ADMISSION.retry_after_s)
        assert refused.json()["errorCode"] == 503

        answered = in_flight.result()
        assert answered.status_code == 200
        assert len(answered.json()["result"]["layoutParsingResults"]) == 5

        while _alive(server):
            assert time.monotonic() < deadline, "the server did not exit after draining"
            time.sleep(0.5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
