"""Request classes served for real: an interactive page goes before the batch pages waiting in the recognition
stage."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from loadtest.sample_pages import newspaper_pdf
from tests.service.conftest import b64, inked_pdf, poll

pytestmark = pytest.mark.service

BATCH_REQUESTS = 2
# Dense pages, a few seconds of OCR each: the batch requests are still far from done when the interactive one comes.
BATCH_PAGES = 6
FIRST_PAGE_WAIT_S = 120


def test_an_interactive_page_goes_before_the_batch_pages_waiting_in_the_recognition_stage(app):
    finished: list[float] = []  # when each batch page came back
    failures: list[str] = []

    def batch_request() -> None:
        body = {"file": b64(newspaper_pdf(BATCH_PAGES)), "fileType": 0, "visualize": False, "priority": "batch",
                "pageCache": False}
        headers = {**app.headers("north"), "Accept": "application/x-ndjson"}
        with httpx.stream("POST", f"{app.url}/layout-parsing", json=body, headers=headers, timeout=600) as r:
            for line in r.iter_lines():
                if "pageIndex" in json.loads(line):
                    finished.append(time.monotonic())
                elif json.loads(line).get("errorCode"):
                    failures.append(line)
            if r.status_code != 200:
                failures.append(f"{r.status_code}")

    senders = [threading.Thread(target=batch_request) for _ in range(BATCH_REQUESTS)]
    for sender in senders:
        sender.start()
    # Once a batch page is back, both requests have their next pages waiting in the recognition replica.
    poll(lambda: (failures, len(finished)), lambda seen: seen[0] or seen[1] > 0, FIRST_PAGE_WAIT_S)
    assert not failures, failures
    sent = time.monotonic()
    app.parse("south", {"file": b64(inked_pdf(1)), "fileType": 0, "pageCache": False})
    answered = time.monotonic()
    for sender in senders:
        sender.join()
    overtaken = [t for t in finished if sent < t < answered]
    # Only the page being read when it came, and one whose layout was already on its way, finish before it; in
    # arrival order every batch page already waiting would.
    assert len(overtaken) <= 2, (len(overtaken), len(finished))
    assert len(finished) == BATCH_REQUESTS * BATCH_PAGES and max(finished) > answered
