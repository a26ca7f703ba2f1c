"""Each stage scales on its own: a load step on the autoscaled embedded service grows the bottleneck stage
(recognition) while layout keeps its one replica, and a light load afterwards shrinks it again. Replica counts are
Ray Serve's, through the readiness answer; every request sent meanwhile must succeed, including those in flight
while a replica drains."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import pytest

from loadtest.autoscaling import LAYOUT, RECOGNITION, ReplicaSample, ReplicaWatch
from loadtest.generator import Limits, Point, closed_loop
from loadtest.mix import Mix
from loadtest.sample_pages import newspaper_pdf
from loadtest.target import Target
from tests.service.conftest import b64

pytestmark = pytest.mark.service

# As many clients as configs/local.yaml admits at once, each with a 4-page document: 16 pages in flight, far above
# recognition's target of 2 per replica.
CLIENTS = 4
PAGES = 4
# Bounds on a loaded 2-core machine: metrics, the autoscaler's delay, and a replica loading its models.
GROW_WITHIN_S = 180
# Longer than layout's upscale delay and look-back together (loadtest/autoscaling.py).
HOLD_S = 30
SHRINK_WITHIN_S = 150


@dataclass(frozen=True)
class StepRun:
    heavy: Point
    light: Point
    # The first sample with recognition grown, and the first with it back to one replica; None when it did not.
    grown: ReplicaSample | None
    shrunk: ReplicaSample | None
    samples: list[ReplicaSample]


def documents(pages: int):
    # Dense scanned text: seconds of OCR a page against a fraction of a second of layout, as on real documents.
    payload = {"file": b64(newspaper_pdf(pages)), "fileType": 0, "visualize": False}
    return Mix.from_payloads([payload], pages=pages).cycle()


async def load_step(url: str) -> StepRun:
    target = Target(f"{url}/layout-parsing", timeout_s=300)
    async with ReplicaWatch(url) as watch:
        assert watch.samples[-1].only_running(RECOGNITION, 1), watch.samples[-1]
        # Heavy load until recognition has grown: pages pile up before the slow stage.
        grown_event = asyncio.Event()
        heavy = asyncio.create_task(closed_loop(target, documents(PAGES), CLIENTS, Limits(GROW_WITHIN_S, math.inf),
                                                stop=grown_event))
        grown = await watch.wait_for(lambda sample: sample.running(RECOGNITION) >= 2, GROW_WITHIN_S)
        # The load goes on for a while at the new size: layout must hold at one replica under it too.
        await asyncio.sleep(HOLD_S)
        grown_event.set()
        heavy_point = await heavy  # its last requests are answered before the light load starts: no 429
        # One client with one page at a time until recognition is back to one replica: the replica that goes
        # drains while requests keep coming.
        shrunk_event = asyncio.Event()
        light = asyncio.create_task(closed_loop(target, documents(1), 1, Limits(SHRINK_WITHIN_S, math.inf),
                                                stop=shrunk_event))
        shrunk = await watch.wait_for(lambda sample: sample.only_running(RECOGNITION, 1), SHRINK_WITHIN_S)
        shrunk_event.set()
        return StepRun(heavy_point, await light, grown, shrunk, watch.samples)


@pytest.fixture(scope="module")
def step(app_url: str) -> StepRun:
    return asyncio.run(load_step(app_url))


def test_under_load_the_bottleneck_stage_grows_to_a_second_replica(step):
    assert step.grown is not None, step.samples[-1]


def changes(samples: list[ReplicaSample]) -> list[tuple[float, dict]]:
    """The samples at which some stage's replicas changed: what a failure shows."""
    return [(round(after.at_s, 1), after.stages) for before, after in zip([None, *samples], samples)
            if before is None or before.stages != after.stages]


def test_the_layout_stage_keeps_its_one_replica_throughout(step):
    assert all(sample.only_running(LAYOUT, 1) for sample in step.samples), changes(step.samples)


def test_after_the_load_drops_the_bottleneck_stage_shrinks_back_to_one_replica(step):
    assert step.shrunk is not None, step.samples[-1]
    assert step.light.samples, "requests were in flight while the replica drained"


def test_no_request_fails_while_replicas_come_and_go(step):
    answers = step.heavy.samples + step.light.samples
    assert answers and [(a.status, a.error) for a in answers if not a.ok] == []
