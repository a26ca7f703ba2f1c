"""One Ray Serve app for the whole test session, started through the real CLI (`ocrvl serve`)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from loadtest.service import running_service

# The service tests' copy of configs/local.yaml: a page limit a test can reach, and loopback URLs allowed
# (only for the test's own file server).
TEST_OVERRIDES = {"input": {"max_pages": 300, "url_fetch": {"allowed_hosts": ["127.0.0.1"], "timeout_s": 5}}}


# Package scope: this app stops before the VL app of tests/service_vl starts, so the two never share the CPUs.
@pytest.fixture(scope="package")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_service(tmp_path_factory.mktemp("service"), args_overrides=TEST_OVERRIDES) as url:
        yield url


@pytest.fixture(scope="package")
def client(service_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service_url, timeout=300) as c:
        yield c


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
