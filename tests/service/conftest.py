"""One Ray Serve app for the whole test session, started through the real CLI (`ocrvl serve`)."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import httpx
import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from loadtest.service import REPO, running_service
from serve.cli import free_port
from serve.config import ServiceConfig

LOCAL_ARGS = yaml.safe_load((REPO / "configs" / "local.yaml").read_text())["applications"][0]["args"]
# What configs/local.yaml (which these tests serve) admits: parse requests answered at once, and the back-off
# the rest are told.
ADMISSION = ServiceConfig.model_validate(LOCAL_ARGS).admission
ADMITTED = ADMISSION.max_requests_in_flight

# The service tests' copy of configs/local.yaml: a page limit a test can reach, and loopback URLs allowed
# (only for the test's own file server).
TEST_OVERRIDES = {"input": {"max_pages": 300, "url_fetch": {"allowed_hosts": ["127.0.0.1"], "timeout_s": 5}}}


@pytest.fixture(scope="package")
def metrics_url() -> str:
    """Where Ray exports every replica's metrics (ours, Ray Serve's) for the app of `service_url`."""
    return f"http://127.0.0.1:{free_port()}/metrics"


# Package scope: this app stops before the VL app of tests/service_vl starts, so the two never share the CPUs.
@pytest.fixture(scope="package")
def service_url(tmp_path_factory: pytest.TempPathFactory, metrics_url: str) -> Iterator[str]:
    with running_service(tmp_path_factory.mktemp("service"), args_overrides=TEST_OVERRIDES,
                         metrics_port=urlsplit(metrics_url).port) as url:
        yield url


@pytest.fixture(scope="package")
def client(service_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service_url, timeout=300) as c:
        yield c


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


def _command_lines() -> dict[int, list[str]]:
    lines = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                lines[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                pass
    return lines


def server_pid(service_url: str) -> int:
    """The `ocrvl serve` process answering on `service_url`."""
    port = str(urlsplit(service_url).port)
    return next(pid for pid, line in _command_lines().items() if "serve.cli" in line and port in line)


def replica_pids(service_url: str, deployment: str) -> list[int]:
    """Processes of `deployment`'s replicas started by the `ocrvl serve` answering on `service_url` (their
    session is the server's: Ray's workers inherit it)."""
    session = os.getsid(server_pid(service_url))
    return [pid for pid, line in _command_lines().items()
            if f"ray::ServeReplica:ocrvl:{deployment}" in line and os.getsid(pid) == session]


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
