"""One measured point of a benchmark, and the closed and open loops of HTTP clients that measure it."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

REQUEST_TIMEOUT_S = 600


@dataclass
class Run:
    mode: str
    concurrency: int
    latencies: list[float]
    wall_s: float

    @property
    def per_s(self) -> float:
        """Completed requests per second of wall time."""
        return len(self.latencies) / self.wall_s


def post_closed_loop(mode: str, url: str, payloads: Sequence[dict], concurrency: int, warm_up: int = 0) -> Run:
    """POSTs every payload to `url` from `concurrency` clients, each sending its next request as soon as its last
    one is answered; any error status fails the run. The first `warm_up` payloads are sent first, untimed."""

    def one(payload: dict) -> float:
        t0 = time.perf_counter()
        client.post(url, json=payload).raise_for_status()
        return time.perf_counter() - t0

    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client, ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, payloads[:warm_up]))
        started = time.perf_counter()
        latencies = list(pool.map(one, payloads))
        wall = time.perf_counter() - started
    return Run(mode, concurrency, latencies, wall)


@dataclass(frozen=True)
class Outcome:
    """One request of an open-loop run: its status and how long its answer took."""

    status: int
    latency_s: float
    retry_after: str | None


@dataclass(frozen=True)
class OpenRun:
    rate_per_s: float
    outcomes: list[Outcome]
    # From the first arrival to the last answer.
    wall_s: float


async def _post_open_loop(url: str, payloads: Sequence[dict], rate_per_s: float, duration_s: float,
                          seed: int) -> OpenRun:
    arrivals = random.Random(seed)
    outcomes: list[Outcome] = []

    async def one(client: httpx.AsyncClient, payload: dict) -> None:
        t0 = time.perf_counter()
        response = await client.post(url, json=payload)
        outcomes.append(Outcome(response.status_code, time.perf_counter() - t0, response.headers.get("retry-after")))

    # No connection limit: an open loop must not wait for a free connection, or it stops being open.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=limits) as client, asyncio.TaskGroup() as group:
        for payload in itertools.cycle(payloads):
            group.create_task(one(client, payload))
            await asyncio.sleep(arrivals.expovariate(rate_per_s))
            if time.perf_counter() - started >= duration_s:
                break
    return OpenRun(rate_per_s, outcomes, time.perf_counter() - started)


def post_open_loop(url: str, payloads: Sequence[dict], rate_per_s: float, duration_s: float,
                   seed: int = 0) -> OpenRun:
    """POSTs payloads (in turn) to `url` at Poisson arrivals of `rate_per_s` for `duration_s`, whatever the answers
    take, and waits for every answer: the load a crowd of independent clients puts on a service."""
    return asyncio.run(_post_open_loop(url, payloads, rate_per_s, duration_s, seed))
