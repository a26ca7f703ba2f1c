"""The VL configuration (configs/vl-cpu-tiny.yaml) served for real: vLLM in the recognition replica."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from loadtest.service import REPO, running_service
from serve.cli import free_port
from tests.tiny_models import build_tiny_paddleocr_vl

# Where configs/vl-cpu-tiny.yaml expects the checkpoint (relative to the project directory).
TINY_MODEL_DIR = REPO / "var" / "models" / "tiny-paddleocr-vl"


@pytest.fixture(scope="package")
def vl_metrics_url() -> str:
    return f"http://127.0.0.1:{free_port()}/metrics"


@pytest.fixture(scope="package")
def vl_client(tmp_path_factory: pytest.TempPathFactory, vl_metrics_url: str) -> Iterator[httpx.Client]:
    pytest.importorskip("vllm")
    build_tiny_paddleocr_vl(TINY_MODEL_DIR)
    with running_service(tmp_path_factory.mktemp("service-vl"), REPO / "configs" / "vl-cpu-tiny.yaml",
                         metrics_port=urlsplit(vl_metrics_url).port) as url:
        with httpx.Client(base_url=url, timeout=300) as client:
            yield client
