"""One app for the package: the embedded pipeline with the page cache on (the private Redis `ocrvl serve` starts for
it), API keys, two ingress replicas sharing the cache, and one recognition replica deep enough that pages queue
inside it, where request classes order them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from loadtest.service import running_service
from serve.cli import free_port

KEYS = {"north": "north-secret-0123456789", "south": "south-secret-0123456789"}


# Every page a request has in flight (pipeline.pages_in_flight_per_request) fits in the one recognition replica.
RECOGNITION_SLOTS = 16
DEPLOYMENTS = {"Ingress": {"num_replicas": 2},
               "RecognitionStage": {"num_replicas": 1, "max_ongoing_requests": RECOGNITION_SLOTS}}


@dataclass(frozen=True)
class ScaleApp:
    url: str
    metrics_url: str
    workdir: Path

    def headers(self, client: str) -> dict[str, str]:
        return {"Authorization": f"token {KEYS[client]}"}

    def parse(self, client: str, body: dict) -> dict:
        r = httpx.post(f"{self.url}/layout-parsing", json={"visualize": False, **body}, headers=self.headers(client),
                       timeout=300)
        assert r.status_code == 200, r.text[:500]
        return r.json()["result"]


@pytest.fixture(scope="package")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaleApp]:
    workdir = tmp_path_factory.mktemp("service-scale")
    overrides = {"auth": {"enabled": True, "keys_env": "TEST_OCRVL_CACHE_KEYS"}, "page_cache": {"enabled": True}}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TEST_OCRVL_CACHE_KEYS", ",".join(f"{client}:{key}" for client, key in KEYS.items()))
        metrics_port = free_port()
        with running_service(workdir, args_overrides=overrides, metrics_port=metrics_port,
                             deployment_overrides=DEPLOYMENTS) as url:
            yield ScaleApp(url, f"http://127.0.0.1:{metrics_port}/metrics", workdir)
