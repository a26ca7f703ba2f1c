"""A replica's replacement, bounded from its deployment's config and watched through `/health/ready`.

When a replica's backend dies (a vLLM engine killed, OOM), recovery has three phases, each bounded by a knob
of the Ray Serve config file or by a measured start-up:

- detection: Ray Serve marks the replica unhealthy after `REPLICA_HEALTH_CHECK_UNHEALTHY_THRESHOLD` failed
  checks in a row, one every `health_check_period_s`; a check that hangs fails at `health_check_timeout_s`;
- stop: the old replica drains (its requests fail fast: the engine is gone) and is force-killed at the latest
  after `graceful_shutdown_timeout_s`; only then are its CPUs/GPU free for the new one;
- start: the new replica constructs, loading its models: as long as the service's own start, measured.

The readiness answer lists each stage's replicas by state, so the phases are seen as Ray Serve reports them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from ray.serve._private.constants import (
    DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_S,
    DEFAULT_HEALTH_CHECK_PERIOD_S,
    DEFAULT_HEALTH_CHECK_TIMEOUT_S,
    REPLICA_HEALTH_CHECK_UNHEALTHY_THRESHOLD,
)

READINESS_PATH = "/health/ready"
# A readiness answer waits on Ray Serve's controller, which a loaded 2-core machine can hold up for seconds.
READINESS_TIMEOUT_S = 60
POLL_INTERVAL_S = 0.25


@dataclass(frozen=True)
class RecoveryBound:
    detection_s: float
    stop_s: float
    start_s: float

    @property
    def total_s(self) -> float:
        return self.detection_s + self.stop_s + self.start_s

    @classmethod
    def of(cls, config: Path, deployment: str, start_s: float) -> RecoveryBound:
        """The bound for `deployment` of the Ray Serve config file `config`, whose replica takes `start_s` to
        construct. Settings the file leaves out are Ray Serve's defaults."""
        [application] = yaml.safe_load(config.read_text())["applications"]
        settings = next((d for d in application.get("deployments", []) if d["name"] == deployment), {})
        period = settings.get("health_check_period_s", DEFAULT_HEALTH_CHECK_PERIOD_S)
        timeout = settings.get("health_check_timeout_s", DEFAULT_HEALTH_CHECK_TIMEOUT_S)
        return cls(
            # The first failing check comes at most a period after the death; the last may take its timeout.
            detection_s=REPLICA_HEALTH_CHECK_UNHEALTHY_THRESHOLD * period + timeout,
            stop_s=settings.get("graceful_shutdown_timeout_s", DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_S),
            start_s=start_s,
        )


@dataclass(frozen=True)
class Readiness:
    status: int
    # Stage -> replica state -> count, as the controller reports them.
    stages: dict[str, dict[str, int]]

    def running(self, stage: str) -> int:
        return self.stages.get(stage, {}).get("RUNNING", 0)


def readiness(client: httpx.Client) -> Readiness:
    answer = client.get(READINESS_PATH, timeout=READINESS_TIMEOUT_S)
    return Readiness(answer.status_code, answer.json()["result"]["stages"])


@dataclass(frozen=True)
class Replacement:
    """Seconds from `since` until Ray Serve took the stage's last running replica out of service (`noticed_s`),
    and until the service was ready again with its replacement (`ready_s`)."""

    noticed_s: float
    ready_s: float


class RecoveryTimeout(AssertionError):
    """A phase of the replacement took longer than its bound."""


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Polls `condition` until it holds; raises `RecoveryTimeout(what)` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RecoveryTimeout(what)
        time.sleep(POLL_INTERVAL_S)


def watch_replacement(client: httpx.Client, stage: str, since: float, bound: RecoveryBound) -> Replacement:
    """Follows the replacement of `stage`'s only replica, whose backend died at `since` (time.monotonic()),
    through readiness; raises `RecoveryTimeout` when detection, or stop and start, outlast their bounds."""
    wait_until(lambda: readiness(client).running(stage) == 0, since + bound.detection_s - time.monotonic(),
               f"{stage} still had a running replica {bound.detection_s:.0f} s after its backend died")
    noticed = time.monotonic()
    wait_until(lambda: readiness(client).status == 200, bound.stop_s + bound.start_s,
               f"not ready {bound.stop_s + bound.start_s:.0f} s after {stage}'s replica was taken out of service")
    return Replacement(noticed_s=noticed - since, ready_s=time.monotonic() - since)
