"""The benchmarks' measured points: fixed lists of request bodies sent through the load generator
(loadtest/generator.py), or work timed in-process (`Run`)."""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.generator import CLOSED, Limits, Point, closed_loop, open_loop, warm_up
from loadtest.mix import Mix
from loadtest.report import RunResult, plot
from loadtest.stats import Sample
from loadtest.target import Target

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


def closed_point(url: str, payloads: Sequence[Mapping[str, Any]], concurrency: int, warm_up_requests: int = 0) -> Point:
    """POSTs every payload once to `url` from `concurrency` clients, each sending its next request as soon as its
    last one is answered, after `warm_up_requests` untimed ones."""
    mix = Mix.from_payloads(payloads)
    target = Target(url, timeout_s=REQUEST_TIMEOUT_S)

    async def measure() -> Point:
        await warm_up(target, mix.cycle(), warm_up_requests, concurrency)
        return await closed_loop(target, mix.cycle(), concurrency, Limits(math.inf, len(payloads)))

    return asyncio.run(measure())


def post_closed_loop(mode: str, url: str, payloads: Sequence[Mapping[str, Any]], concurrency: int,
                     warm_up: int = 0) -> Run:
    """`closed_point` as a Run; any answer but a success fails it."""
    point = closed_point(url, payloads, concurrency, warm_up)
    failed = [s.kind for s in point.samples if not s.ok]
    if failed:
        raise RuntimeError(f"{mode}: {len(failed)} requests failed ({', '.join(sorted(set(failed)))})")
    return Run(mode, concurrency, [s.latency_s for s in point.samples], point.wall_s)


def open_point(url: str, payloads: Sequence[Mapping[str, Any]], rate_per_s: float, duration_s: float,
               seed: int = 0) -> Point:
    """POSTs payloads (in turn) to `url` at Poisson arrivals of `rate_per_s` for `duration_s`, whatever the answers
    take, and waits for every answer: the load a crowd of independent clients puts on a service."""
    target = Target(url, timeout_s=REQUEST_TIMEOUT_S)
    limits = Limits(duration_s, sys.maxsize)
    return asyncio.run(open_loop(target, Mix.from_payloads(payloads).cycle(), rate_per_s, limits, seed))


def plot_runs(runs: Sequence[Run], path: Path, title: str) -> None:
    """Throughput and latency against concurrency, one curve per mode, drawn as `loadtest plot` draws results."""
    by_mode: dict[str, RunResult] = {}
    for run in runs:
        result = by_mode.setdefault(run.mode, RunResult(run.mode, "", CLOSED, [], {}))
        samples = [Sample(0.0, latency, 200, 1) for latency in run.latencies]
        result.points.append(Point(CLOSED, run.concurrency, samples, run.wall_s))
    path.parent.mkdir(parents=True, exist_ok=True)
    plot(list(by_mode.values()), path, title)
