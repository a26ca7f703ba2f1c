"""One Ray Serve app for the whole test session, started through the real CLI (`ocrvl serve`)."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import cv2
import httpx
import numpy as np
import pypdfium2 as pdfium
import pytest
import yaml
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from loadtest.processes import command_lines, server_pid, session_of
from loadtest.service import REPO, running_service
from serve.cli import free_port
from serve.config import ServiceConfig
from serve.metrics import scrape_sum

LOCAL_ARGS = yaml.safe_load((REPO / "configs" / "local.yaml").read_text())["applications"][0]["args"]
# What configs/local.yaml (which these tests serve) admits: parse requests answered at once, and the back-off
# the rest are told.
ADMISSION = ServiceConfig.model_validate(LOCAL_ARGS).admission
ADMITTED = ADMISSION.max_requests_in_flight

T = TypeVar("T")
# Replicas report to Ray's agent every 2 s (serve/cli.py); allow for a loaded machine.
METRICS_WAIT_S = 30
# A replaced replica loads its models again.
RECOVERY_WAIT_S = 120
# Two of the replicas' metric reports: long enough for work still going on to show.
QUIET_S = 4

# The service tests' copy of configs/local.yaml: a page limit and a body cap a test can reach, and loopback URLs
# allowed (only for the test's own file server). Its result store is the test's own directory.
PAGE_LIMIT = 100
TEST_OVERRIDES = {"input": {"max_pages": PAGE_LIMIT, "max_request_bytes": 20_000_000,
                            "url_fetch": {"allowed_hosts": ["127.0.0.1"], "timeout_s": 5}}}


@pytest.fixture(scope="package")
def metrics_url() -> str:
    """Where Ray exports every replica's metrics (ours, Ray Serve's) for the app of `service_url`."""
    return f"http://127.0.0.1:{free_port()}/metrics"


# Package scope: this app stops before the VL app of tests/service_vl starts, so the two never share the CPUs.
@pytest.fixture(scope="package")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The filesystem result store of the app of `service_url`."""
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="package")
def service_url(tmp_path_factory: pytest.TempPathFactory, metrics_url: str, results_dir: Path) -> Iterator[str]:
    overrides = {**TEST_OVERRIDES, "storage": {"filesystem": {"root": str(results_dir)}}}
    with running_service(tmp_path_factory.mktemp("service"), args_overrides=overrides,
                         metrics_port=urlsplit(metrics_url).port) as url:
        yield url


@pytest.fixture(scope="package")
def client(service_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service_url, timeout=300) as c:
        yield c


# Recorded only when a job's replica goes away (its lease lapses) and another takes the job over.
JOB_TAKEOVERS = "ray_ocrvl_job_lease_takeovers_total"
# The page cache's, only recorded where it is on (tests/service_cache).
PAGE_CACHE_SERIES = "ray_ocrvl_page_cache_total"
# Series only a VL recognition backend records.
VL_SERIES = {"ray_ocrvl_vl_calls_total", "ray_ocrvl_vl_tokens_total"}


def missing_series(metrics_url: str, wanted: set[str], timeout_s: float) -> set[str]:
    """The names in `wanted` still absent from the export after `timeout_s` (replicas report periodically)."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = httpx.get(metrics_url, timeout=10).text
        missing = wanted - {s.name for f in text_string_to_metric_families(text) for s in f.samples}
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(1)


def wait_for(condition: Callable[[], bool], timeout_s: float) -> None:
    poll(lambda: None, lambda _: condition(), timeout_s)


def poll(get: Callable[[], T], until: Callable[[T], bool], timeout_s: float) -> T:
    """Calls `get` until its result satisfies `until`, and returns that result."""
    deadline = time.monotonic() + timeout_s
    while not until(result := get()):
        assert time.monotonic() < deadline, f"timed out; last: {result!r}"
        time.sleep(0.25)
    return result


def when_quiet(figures: Callable[[], dict[str, float]], metrics_url: str) -> dict[str, float]:
    """`figures()` once no page is inside a stage and they held still for two metric reports: work an earlier test
    left behind (a job's last pages, a stream cut short) must not count as the next test's."""

    def quiet() -> dict[str, float] | None:
        first = figures()
        time.sleep(QUIET_S)
        busy = scrape_sum(metrics_url, "ray_ocrvl_stage_pages_in_flight")
        return first if busy == 0 and figures() == first else None

    return poll(quiet, lambda settled: settled is not None, RECOVERY_WAIT_S)


def service_pids(service_url: str, title: str) -> list[int]:
    """Processes started by the `ocrvl serve` answering on `service_url` whose command line contains `title`
    (their session is the server's: Ray's workers and the engines they start inherit it)."""
    session = session_of(server_pid(service_url))
    return [pid for pid, line in command_lines().items() if title in " ".join(line) and session_of(pid) == session]


def replica_pids(service_url: str, deployment: str) -> list[int]:
    """Processes of `deployment`'s replicas."""
    return service_pids(service_url, f"ray::ServeReplica:ocrvl:{deployment}")


def blank_pdf(pages: int) -> bytes:
    """Empty pages, twice as wide as high; the service skips both stages for them, so they cost next to nothing."""
    document = pdfium.PdfDocument.new()
    for _ in range(pages):
        document.new_page(200, 100)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def inked_pdf(pages: int) -> bytes:
    """Pages of blank_pdf's size with a line of text on each, drawn as a picture: both stages and OCR run, so every
    page takes real work (about a second here). For tests that need a job or a stream to still be going."""
    line = np.full((100, 400, 3), 255, np.uint8)
    cv2.putText(line, "Page of work", (20, 65), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (0, 0, 0), 3, cv2.LINE_AA)
    document = pdfium.PdfDocument.new()
    for _ in range(pages):
        page = document.new_page(200, 100)
        picture = pdfium.PdfImage.new(document)
        picture.set_bitmap(pdfium.PdfBitmap.from_pil(Image.fromarray(line)))
        picture.set_matrix(pdfium.PdfMatrix().scale(200, 50).translate(0, 25))
        page.insert_obj(picture)
        page.gen_content()
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def file_b64(path: Path) -> str:
    return b64(path.read_bytes())


def report_png() -> bytes:
    """A synthetic one-page report (a title and three paragraphs) that the embedded layout model boxes."""
    page = np.full((1100, 850, 3), 255, np.uint8)
    cv2.putText(page, "A Synthetic Report", (200, 120), cv2.FONT_HERSHEY_DUPLEX, 1.5, (0, 0, 0), 2)
    words = "the quick brown fox jumps over the lazy dog and keeps running".split()
    y = 200
    for paragraph in range(3):
        for line in range(5):
            text = " ".join(words[(line + paragraph) % 4 :][:9])
            cv2.putText(page, text, (80, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
            y += 34
        y += 40
    return cv2.imencode(".png", page)[1].tobytes()


def continued_table_pdf() -> bytes:
    """Two pages: a title, a paragraph and a table that runs to the foot of page 1 and goes on, same columns and
    width, at the top of page 2, followed by a paragraph."""
    columns = (100, 350, 600, 850)
    first = np.full((1400, 950, 3), 255, np.uint8)
    cv2.putText(first, "Quarterly Figures", (250, 120), cv2.FONT_HERSHEY_DUPLEX, 1.5, (0, 0, 0), 2)
    _paragraph(first, 200)
    _table(first, 480, columns, [["Region", "Units", "Revenue"]] + [[f"North {i}", str(100 + i), str(2000 + 13 * i)]
                                                                   for i in range(15)])
    second = np.full((1400, 950, 3), 255, np.uint8)
    _table(second, 100, columns, [[f"South {i}", str(300 + i), str(5000 + 17 * i)] for i in range(14)])
    _paragraph(second, 900)
    images = [Image.fromarray(page[:, :, ::-1]) for page in (first, second)]
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", save_all=True, append_images=images[1:], resolution=144)
    return buffer.getvalue()


def _paragraph(page: np.ndarray, top: int) -> None:
    words = "the quick brown fox jumps over the lazy dog and keeps running".split()
    for line in range(5):
        cv2.putText(page, " ".join(words[line % 4 :][:9]), (100, top + 34 * line), cv2.FONT_HERSHEY_SIMPLEX, 0.8,
                    (0, 0, 0), 2)


def _table(page: np.ndarray, top: int, columns: tuple[int, ...], rows: list[list[str]]) -> None:
    """A ruled grid, one 50 px row per entry of `rows`."""
    row_height = 50
    bottom = top + row_height * len(rows)
    for r in range(len(rows) + 1):
        cv2.line(page, (columns[0], top + r * row_height), (columns[-1], top + r * row_height), (0, 0, 0), 2)
    for x in columns:
        cv2.line(page, (x, top), (x, bottom), (0, 0, 0), 2)
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            cv2.putText(page, text, (columns[c] + 12, top + r * row_height + 32), cv2.FONT_HERSHEY_SIMPLEX, 0.8,
                        (0, 0, 0), 2)
