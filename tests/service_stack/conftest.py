"""The production stack in miniature (configs/stack-cpu-tiny.yaml) served for real: PP-DocLayoutV2 in the layout
replica (with PP-LCNet orientation), PaddleOCR-VL in vLLM in the recognition replica, both tiny random checkpoints."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from loadtest.service import REPO, running_service
from loadtest.tiny_layout_models import build_tiny_pp_doclayout_v2, build_tiny_pp_lcnet
from loadtest.tiny_models import build_tiny_paddleocr_vl

# Where configs/stack-cpu-tiny.yaml expects the checkpoints (relative to the project directory).
MODELS = REPO / "var" / "models"


@pytest.fixture(scope="package")
def stack_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    pytest.importorskip("vllm")
    build_tiny_paddleocr_vl(MODELS / "tiny-paddleocr-vl")
    build_tiny_pp_doclayout_v2(MODELS / "tiny-pp-doclayout-v2")
    build_tiny_pp_lcnet(MODELS / "tiny-pp-lcnet")
    with running_service(tmp_path_factory.mktemp("service-stack"), REPO / "configs" / "stack-cpu-tiny.yaml") as url:
        with httpx.Client(base_url=url, timeout=300) as client:
            yield client
