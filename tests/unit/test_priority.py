"""Request classes: the gate lets waiting work in by class, then by arrival; who is batch work."""

from __future__ import annotations

import asyncio

import pytest

from serve.backends.rapid_ocr import RapidOcrRecognition
from serve.config import PriorityConfig, ServiceConfig
from serve.pipeline import ParseOptions
from serve.priority import BATCH, INTERACTIVE, PriorityGate
from serve.protocol import LayoutParsingRequest


async def _entry_order(arrivals: list[tuple[str, str]], slots: int = 1) -> list[str]:
    """Names in the order they got in, when they arrive (in this order) while every slot is held."""
    gate = PriorityGate(slots)
    entered: list[str] = []
    release = asyncio.Event()

    async def hold() -> None:
        async with gate.turn(INTERACTIVE):
            await release.wait()

    async def work(name: str, priority: str) -> None:
        async with gate.turn(priority):
            entered.append(name)
            await asyncio.sleep(0)

    holders = [asyncio.create_task(hold()) for _ in range(slots)]
    await asyncio.sleep(0)
    waiters = []
    for name, priority in arrivals:
        waiters.append(asyncio.create_task(work(name, priority)))
        await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*holders, *waiters)
    return entered


def test_waiting_interactive_work_goes_before_batch_work_that_came_first():
    arrivals = [("bulk-1", BATCH), ("bulk-2", BATCH), ("call-1", INTERACTIVE), ("bulk-3", BATCH),
                ("call-2", INTERACTIVE)]
    assert asyncio.run(_entry_order(arrivals)) == ["call-1", "call-2", "bulk-1", "bulk-2", "bulk-3"]


def test_work_of_one_class_goes_in_arrival_order():
    arrivals = [(f"bulk-{i}", BATCH) for i in range(5)]
    assert asyncio.run(_entry_order(arrivals)) == [f"bulk-{i}" for i in range(5)]


def test_no_more_than_the_slots_hold_the_gate_at_once():
    async def run() -> int:
        gate, inside, most = PriorityGate(2), 0, 0

        async def work(priority: str) -> None:
            nonlocal inside, most
            async with gate.turn(priority):
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.01)
                inside -= 1

        await asyncio.gather(*(work(BATCH if i % 2 else INTERACTIVE) for i in range(10)))
        return most

    assert asyncio.run(run()) == 2


def test_a_waiter_that_is_cancelled_leaves_the_queue_and_the_next_one_gets_in():
    async def run() -> list[str]:
        gate, entered = PriorityGate(1), []
        release = asyncio.Event()

        async def hold() -> None:
            async with gate.turn(BATCH):
                await release.wait()

        async def work(name: str, priority: str) -> None:
            async with gate.turn(priority):
                entered.append(name)

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0)
        gone = asyncio.create_task(work("gone", INTERACTIVE))
        stays = asyncio.create_task(work("stays", BATCH))
        await asyncio.sleep(0)
        gone.cancel()
        release.set()
        await asyncio.gather(holder, stays)
        with pytest.raises(asyncio.CancelledError):
            await gone
        # The gate is free again: a newcomer gets in at once.
        await asyncio.wait_for(work("later", BATCH), timeout=1)
        return entered

    assert asyncio.run(run()) == ["stays", "later"]


@pytest.mark.parametrize(
    ("asked", "client", "job", "expected"),
    [
        (None, None, False, INTERACTIVE),
        (INTERACTIVE, "ingest", False, BATCH),  # a batch key cannot lift itself
        (None, "ingest", False, BATCH),
        (BATCH, "desk", False, BATCH),
        (None, "desk", True, BATCH),
        (INTERACTIVE, None, True, BATCH),
    ],
)
def test_a_request_is_batch_work_when_it_asks_its_key_is_or_it_is_a_jobs(asked, client, job, expected):
    assert PriorityConfig(batch_clients=["ingest"]).of(asked, client, job) == expected


def test_jobs_may_be_configured_interactive():
    assert PriorityConfig(jobs=INTERACTIVE).of(None, None, True) == INTERACTIVE


def test_the_class_reaches_the_recognition_options():
    config = ServiceConfig(priorities={"batch_clients": ["ingest"]})
    capabilities = RapidOcrRecognition.capabilities

    def priority(client: str | None = None, job: bool = False, **fields) -> str:
        request = LayoutParsingRequest(file="x", **fields)
        return ParseOptions.from_request(request, config, capabilities, client, job).recognition.priority

    assert priority() == INTERACTIVE
    assert priority(priority="batch") == BATCH
    assert priority(client="ingest") == BATCH
    assert priority(job=True) == BATCH


def test_the_embedded_backend_works_on_one_page_at_a_time_and_so_waits_by_class():
    assert RapidOcrRecognition.capabilities.pages_at_once == 1


def test_with_priorities_off_every_request_is_interactive():
    assert PriorityConfig(enabled=False, batch_clients=["ingest"]).of(BATCH, "ingest", True) == INTERACTIVE
