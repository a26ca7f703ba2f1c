"""One app for the package: the embedded pipeline with the page cache on (the private Redis `ocrvl serve` starts for
it), API keys, and two ingress replicas sharing the cache."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from loadtest.service import running_service
from serve.cli import free_port

KEYS = {"north": "north-secret-0123456789", "south": "south-secret-0123456789"}


@dataclass(frozen=True)
class Cached:
    url: str
    metrics_url: str
    workdir: Path

    def parse(self, client: str, body: dict) -> dict:
        r = httpx.post(f"{self.url}/layout-parsing", json={"visualize": False, **body},
                       headers={"Authorization": f"token {KEYS[client]}"}, timeout=300)
        assert r.status_code == 200, r.text[:500]
        return r.json()["result"]


@pytest.fixture(scope="package")
def cached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cached]:
    workdir = tmp_path_factory.mktemp("service-cache")
    overrides = {"auth": {"enabled": True, "keys_env": "TEST_OCRVL_CACHE_KEYS"}, "page_cache": {"enabled": True}}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TEST_OCRVL_CACHE_KEYS", ",".join(f"{client}:{key}" for client, key in KEYS.items()))
        metrics_port = free_port()
        with running_service(workdir, args_overrides=overrides, metrics_port=metrics_port,
                             deployment_overrides={"Ingress": {"num_replicas": 2}}) as url:
            yield Cached(url, f"http://127.0.0.1:{metrics_port}/metrics", workdir)
