"""One measured point of a benchmark, and the closed loop of HTTP clients that measures it."""

from __future__ import annotations

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
