"""One measured point of a benchmark: what ran, at which concurrency, and how long each request took."""

from __future__ import annotations

from dataclasses import dataclass


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
