"""One app for the package: the embedded pipeline with API keys, Redis quotas, an S3 result store (a real moto
server) and the Job API on, behind two ingress replicas."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest

from loadtest.service import running_service
from serve.cli import free_port
from tests.moto_server import use_dummy_credentials

KEYS = {"ci": "ci-secret-0123456789", "pages": "pages-secret-0123456789", "files": "files-secret-0123456789",
        "jobs": "jobs-secret-0123456789", "burst": "burst-secret-0123456789",
        "job-pages": "job-pages-secret-0123456789"}
# The official client polls a job every few seconds: its key needs room beyond the default per-minute quota.
JOBS_REQUESTS_PER_MINUTE = 1000
JOBS_IN_FLIGHT = 8
JOB_PAGES_PER_DAY = 5
WEBHOOK_SECRET = "webhook-secret-0123456789abcdefghijklmnopqrstuv"
REQUESTS_PER_MINUTE = 4
PAGES_PER_DAY = 3
BUCKET = "secured-results"
# Short, so a job whose replica is killed is taken over quickly.
JOB_LEASE_S = 6
# Small, so the tests' short documents are split over both ingress replicas.
PAGES_PER_LEASE = 2


@dataclass(frozen=True)
class Secured:
    url: str
    log: Path
    metrics_url: str

    def post(self, client: str | None, body: dict) -> httpx.Response:
        headers = {"Authorization": f"token {KEYS[client]}"} if client else {}
        return httpx.post(f"{self.url}/layout-parsing", json=body, headers=headers, timeout=300)


@pytest.fixture(scope="package")
def secured(tmp_path_factory: pytest.TempPathFactory, redis_url: str, s3_endpoint: str) -> Iterator[Secured]:
    workdir = tmp_path_factory.mktemp("service-secured")
    overrides = {
        "auth": {"enabled": True, "keys_env": "TEST_OCRVL_API_KEYS"},
        "quotas": {"enabled": True, "redis_url": redis_url, "key_prefix": "secured",
                   "default": {"requests_per_minute": REQUESTS_PER_MINUTE},
                   "clients": {"pages": {"pages_per_day": PAGES_PER_DAY},
                               "jobs": {"requests_per_minute": JOBS_REQUESTS_PER_MINUTE},
                               "burst": {"requests_per_minute": JOBS_REQUESTS_PER_MINUTE},
                               "job-pages": {"requests_per_minute": JOBS_REQUESTS_PER_MINUTE,
                                             "pages_per_day": JOB_PAGES_PER_DAY}}},
        "output": {"images": "url"},
        "jobs": {"enabled": True, "redis_url": redis_url, "key_prefix": "secured-jobs", "lease_s": JOB_LEASE_S,
                 "pages_per_lease": PAGES_PER_LEASE, "max_jobs_in_flight_per_client": JOBS_IN_FLIGHT,
                 # The tests' webhook receiver listens on loopback.
                 "webhooks": {"enabled": True, "secret_env": "TEST_OCRVL_WEBHOOK_SECRET", "allowed_hosts": ["127.0.0.1"],
                              "backoff_s": 0.5}},
        # The job tests' documents are served from a loopback file server.
        "input": {"url_fetch": {"allowed_hosts": ["127.0.0.1"]}},
        "storage": {"backend": "s3", "s3": {"bucket": BUCKET, "endpoint_url": s3_endpoint, "region": "us-east-1",
                                            "addressing_style": "path"}},
    }
    with pytest.MonkeyPatch.context() as env:
        # The replicas inherit the server's environment: boto3's chain finds the dummy keys there.
        use_dummy_credentials(env, workdir)
        boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=BUCKET)
        env.setenv("TEST_OCRVL_API_KEYS", ",".join(f"{client}:{key}" for client, key in KEYS.items()))
        env.setenv("TEST_OCRVL_WEBHOOK_SECRET", WEBHOOK_SECRET)
        metrics_port = free_port()
        with running_service(workdir, args_overrides=overrides, metrics_port=metrics_port,
                             deployment_overrides={"Ingress": {"num_replicas": 2}}) as url:
            yield Secured(url, workdir / "serve.log", f"http://127.0.0.1:{metrics_port}/metrics")
