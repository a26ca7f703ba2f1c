"""Per-stage autoscaling, made watchable in minutes: the deployment settings that hand both stages to Ray Serve's
autoscaler, and a watch of each stage's replicas as Ray Serve's controller reports them.

Ray Serve sizes each deployment from one signal, its ongoing requests: the pages running in its replicas plus those
queued at the handles that call it (the ingress's), averaged over `look_back_period_s` and divided by
`target_ongoing_requests`. So each stage's target is the depth one replica works through efficiently:

- recognition (the embedded OCR) reads one page at a time per replica (`RecognitionCapabilities.pages_at_once`):
  two ongoing is one page being read and the next ready, and more waiting means another replica would help;
- layout runs up to `layout.batch.max_batch_size` (8) pages in one call: it needs another replica only when more
  than a whole batch waits.

Layout is about ten times cheaper per page, so under load pages pile up before recognition and only that stage grows.
The delays are seconds instead of the production minutes of configs/gpu.yaml, so a test sees a whole cycle.
`STAGE_AUTOSCALING` is given to `loadtest.service.running_service` as deployment overrides of configs/local.yaml.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from loadtest.recovery import POLL_INTERVAL_S, READINESS_TIMEOUT_S, readiness

LAYOUT = "LayoutStage"
RECOGNITION = "RecognitionStage"
RUNNING = "RUNNING"

# A decision needs 3 s of steady pressure (5 s of 1 s reports averaged) to grow and 10 s of calm to shrink.
WATCHABLE_DELAYS = {"look_back_period_s": 5, "metrics_interval_s": 1, "upscale_delay_s": 3, "downscale_delay_s": 10}
# Pages of requests that arrive together reach layout at once and pass in a batch or two, while a fresh replica's
# first batches are slow: a backlog that lasts longer than that start says layout is short.
LAYOUT_UPSCALE_DELAY_S = 15
# Two replicas of either stage fit the 2 CPUs of this machine beside the other's (num_cpus 0.5 each in local.yaml).
MAX_REPLICAS = 2
# num_replicas must be unset for Ray Serve to take autoscaling_config.
STAGE_AUTOSCALING = {
    LAYOUT: {"num_replicas": None, "autoscaling_config": {
        "min_replicas": 1, "max_replicas": MAX_REPLICAS, "target_ongoing_requests": 8,
        **WATCHABLE_DELAYS, "upscale_delay_s": LAYOUT_UPSCALE_DELAY_S}},
    RECOGNITION: {"num_replicas": None, "autoscaling_config": {
        "min_replicas": 1, "max_replicas": MAX_REPLICAS, "target_ongoing_requests": 2, **WATCHABLE_DELAYS}},
}


@dataclass(frozen=True)
class ReplicaSample:
    # Seconds since the watch started.
    at_s: float
    # Stage -> replica state -> count, from the readiness answer.
    stages: dict[str, dict[str, int]]

    def running(self, stage: str) -> int:
        return self.stages.get(stage, {}).get(RUNNING, 0)

    def only_running(self, stage: str, replicas: int) -> bool:
        """`replicas` running, and none starting or stopping."""
        return self.stages.get(stage) == {RUNNING: replicas}


@dataclass
class ReplicaWatch:
    """Samples every stage's replicas through readiness while it is entered (`async with`)."""

    url: str
    interval_s: float = POLL_INTERVAL_S
    samples: list[ReplicaSample] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    async def __aenter__(self) -> ReplicaWatch:
        self.started = time.perf_counter()
        self._task = asyncio.create_task(self._sample())
        if await self.wait_for(lambda sample: True, READINESS_TIMEOUT_S) is None:
            raise RuntimeError(f"no readiness answer from {self.url} within {READINESS_TIMEOUT_S} s")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._task.cancel()

    def now_s(self) -> float:
        return time.perf_counter() - self.started

    async def _sample(self) -> None:
        with httpx.Client(base_url=self.url) as client:
            while True:
                answer = await asyncio.to_thread(readiness, client)
                self.samples.append(ReplicaSample(self.now_s(), answer.stages))
                await asyncio.sleep(self.interval_s)

    async def wait_for(self, condition: Callable[[ReplicaSample], bool], timeout_s: float) -> ReplicaSample | None:
        """The first sample from now on that meets `condition`; None if none does within `timeout_s`."""
        deadline = time.perf_counter() + timeout_s
        seen = len(self.samples)
        while time.perf_counter() < deadline:
            for sample in self.samples[seen:]:
                if condition(sample):
                    return sample
            seen = len(self.samples)
            await asyncio.sleep(self.interval_s / 2)
        return None

    def most_running(self, stage: str) -> int:
        return max((sample.running(stage) for sample in self.samples), default=0)
