"""Our service with the external-VLM backend (configs/vl-external.yaml) and the vLLM OpenAI server it calls,
tiny PaddleOCR-VL, started once for this package."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadtest.service import REPO, running_service
from loadtest.vlm_server import running_vllm_server
from loadtest.tiny_models import build_tiny_paddleocr_vl


@dataclass(frozen=True)
class ExternalSetup:
    vlm_url: str  # the vLLM server's OpenAI base URL (…/v1)
    service_url: str
    workdir: Path

    @property
    def vlm_root(self) -> str:
        return self.vlm_url.removesuffix("/v1")


@pytest.fixture(scope="package")
def external(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExternalSetup]:
    pytest.importorskip("vllm")
    workdir = tmp_path_factory.mktemp("service-external")
    model = build_tiny_paddleocr_vl(workdir / "tiny-paddleocr-vl")
    with pytest.MonkeyPatch.context() as env:
        # vLLM refreshes its Prometheus figures when it logs stats (every 10 s by default); tests watch them.
        env.setenv("VLLM_LOG_STATS_INTERVAL", "0.5")
        with running_vllm_server(model, workdir) as vlm_url:
            with running_service(workdir, REPO / "configs" / "vl-external.yaml",
                                 args_overrides={"recognition": {"backend_options": {"base_url": vlm_url}}}) as url:
                yield ExternalSetup(vlm_url, url, workdir)
