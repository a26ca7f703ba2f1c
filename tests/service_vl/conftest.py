"""The VL configuration (configs/vl-cpu-tiny.yaml) served for real: vLLM in the recognition replica."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from loadtest.service import REPO, running_service
from serve.cli import free_port
from loadtest.tiny_models import build_tiny_paddleocr_vl

VL_CONFIG = REPO / "configs" / "vl-cpu-tiny.yaml"
# Where configs/vl-cpu-tiny.yaml expects the checkpoint (relative to the project directory).
TINY_MODEL_DIR = REPO / "var" / "models" / "tiny-paddleocr-vl"


@dataclass(frozen=True)
class VlService:
    url: str
    # From `ocrvl serve` to every stage ready on this machine: what a replacement replica's start is measured by.
    started_in_s: float


def tiny_vl_model() -> None:
    """The checkpoint configs/vl-cpu-tiny.yaml serves, built once; skips the test where vLLM is not installed."""
    pytest.importorskip("vllm")
    build_tiny_paddleocr_vl(TINY_MODEL_DIR)


@pytest.fixture(scope="package")
def vl_metrics_url() -> str:
    return f"http://127.0.0.1:{free_port()}/metrics"


@pytest.fixture(scope="package")
def vl_service(tmp_path_factory: pytest.TempPathFactory, vl_metrics_url: str) -> Iterator[VlService]:
    tiny_vl_model()
    started = time.monotonic()
    with running_service(tmp_path_factory.mktemp("service-vl"), VL_CONFIG,
                         metrics_port=urlsplit(vl_metrics_url).port) as url:
        yield VlService(url, time.monotonic() - started)


@pytest.fixture(scope="package")
def vl_client(vl_service: VlService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=vl_service.url, timeout=300) as client:
        yield client
