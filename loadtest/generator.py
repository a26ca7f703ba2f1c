"""The load: a closed loop (N clients, each sending its next request when its last is answered) or an open loop
(Poisson arrivals at a rate, whatever the answers take), always bounded by a duration and a request cap.

A closed loop measures what a service does at a given concurrency; an open loop measures what a crowd of
independent clients meets, including what happens past saturation (a closed loop slows down with the service and
never overloads it).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import httpx

from loadtest.mix import Document
from loadtest.progress import Progress
from loadtest.stats import Sample, Summary
from loadtest.target import Target

CLOSED = "closed"
OPEN = "open"


@dataclass(frozen=True)
class Limits:
    """A point ends when either bound is reached; requests already sent are still awaited."""

    duration_s: float
    max_requests: int

    def __post_init__(self) -> None:
        if not self.duration_s > 0 or self.max_requests < 1:
            raise ValueError("a point needs a positive duration and at least one request")


@dataclass
class Point:
    """One measured load level: `load` is the number of clients (closed loop) or the offered req/s (open loop)."""

    mode: str
    load: float
    samples: list[Sample] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def summary(self) -> Summary:
        return Summary.of(self.samples, self.wall_s)


def _client(target: Target) -> httpx.AsyncClient:
    # No connection limit: an open loop must not queue on the client side, or it stops being open.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    return httpx.AsyncClient(timeout=target.timeout_s, limits=limits, headers=target.headers())


async def _send(client: httpx.AsyncClient, target: Target, document: Document, started: float) -> Sample:
    sent = time.perf_counter()
    status, error, retry_after = 0, None, None
    try:
        response = await client.post(target.endpoint, content=document.body)
        status, retry_after = response.status_code, response.headers.get("retry-after")
    except httpx.TimeoutException:
        error = "timeout"
    except httpx.ConnectError:
        error = "connect"
    except httpx.HTTPError as exc:
        error = type(exc).__name__
    return Sample(sent - started, time.perf_counter() - sent, status, document.pages, error, retry_after)


@contextlib.asynccontextmanager
async def _showing(progress: Progress | None):
    shower = asyncio.create_task(progress.show()) if progress is not None else None
    try:
        yield
    finally:
        if shower is not None:
            shower.cancel()
            progress.done()


async def warm_up(target: Target, documents: Iterator[Document], requests: int, concurrency: int) -> None:
    """Sends `requests` requests, unmeasured: first calls allocate, compile and fill caches."""
    if requests > 0:
        await closed_loop(target, documents, concurrency, Limits(math.inf, requests))


async def closed_loop(target: Target, documents: Iterator[Document], concurrency: int, limits: Limits,
                      progress: Progress | None = None, stop: asyncio.Event | None = None) -> Point:
    """`stop`, once set, ends the point early as its limits would: for loads that last until something happens."""
    point = Point(CLOSED, concurrency)
    started = time.perf_counter()
    sent = 0
    stop = stop or asyncio.Event()

    async def one_client(client: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < limits.max_requests and time.perf_counter() - started < limits.duration_s and not stop.is_set():
            sent += 1
            if progress is not None:
                progress.on_sent()
            sample = await _send(client, target, next(documents), started)
            point.samples.append(sample)
            if progress is not None:
                progress.on_answer(sample)

    async with _client(target) as client, _showing(progress):
        await asyncio.gather(*(one_client(client) for _ in range(concurrency)))
    point.wall_s = time.perf_counter() - started
    return point


async def open_loop(target: Target, documents: Iterator[Document], rate_per_s: float, limits: Limits,
                    seed: int = 0, progress: Progress | None = None) -> Point:
    point = Point(OPEN, rate_per_s)
    arrivals = random.Random(seed)

    async def one(client: httpx.AsyncClient, document: Document) -> None:
        sample = await _send(client, target, document, started)
        point.samples.append(sample)
        if progress is not None:
            progress.on_answer(sample)

    started = time.perf_counter()
    async with _client(target) as client, _showing(progress), asyncio.TaskGroup() as group:
        # Arrival times are absolute, so a slow event loop delays requests without lowering the offered rate.
        due = 0.0
        for _ in range(limits.max_requests):
            due += arrivals.expovariate(rate_per_s)
            if due >= limits.duration_s:
                break
            await asyncio.sleep(max(0.0, started + due - time.perf_counter()))
            if progress is not None:
                progress.on_sent()
            group.create_task(one(client, next(documents)))
    point.wall_s = time.perf_counter() - started
    return point


async def sweep(target: Target, documents: Iterator[Document], mode: str, loads: Sequence[float], limits: Limits,
                warm_up_requests: int = 0, seed: int = 0, label: str = "") -> list[Point]:
    """Warms up, then measures one point per load level (clients, or offered req/s), each with its progress line."""
    await warm_up(target, documents, warm_up_requests, int(max(loads)) if mode == CLOSED else 1)
    points = []
    for load in loads:
        progress = Progress(f"[{label}{mode} {load:g}]", limits.duration_s, limits.max_requests)
        if mode == CLOSED:
            points.append(await closed_loop(target, documents, int(load), limits, progress))
        else:
            points.append(await open_loop(target, documents, load, limits, seed, progress))
    return points
