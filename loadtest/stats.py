"""What one measured point of a load test says: pure functions over its samples, unit-tested on known numbers."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class Sample:
    """One request: when it was sent (seconds from the point's start), how long its answer took, and what it was.
    `status` is the HTTP status, or 0 when no answer came (`error` then names why: timeout, connect, ...)."""

    sent_s: float
    latency_s: float
    status: int
    pages: int
    error: str | None = None
    # What a refusal told the client to wait, if anything.
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def kind(self) -> str:
        """How errors are counted: by HTTP status, or by what went wrong without one."""
        return str(self.status) if self.status else (self.error or "no answer")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile by linear interpolation between closest ranks (NumPy's default), so p50 of an even
    count is the mean of the middle two and p100 the maximum. NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """A point's figures. Latency percentiles are of successful requests: fast refusals would otherwise make an
    overloaded service look quick. `errors` counts the rest by kind."""

    requests: int
    ok: int
    errors: dict[str, int]
    wall_s: float
    requests_per_s: float
    pages_per_s: float
    latency_s: dict[str, float]

    @property
    def error_rate(self) -> float:
        return (self.requests - self.ok) / self.requests if self.requests else 0.0

    @classmethod
    def of(cls, samples: Sequence[Sample], wall_s: float) -> Summary:
        ok = [s for s in samples if s.ok]
        latencies = [s.latency_s for s in ok]
        figures = {f"p{q}": percentile(latencies, q) for q in PERCENTILES}
        figures["max"] = max(latencies) if latencies else math.nan
        figures["mean"] = sum(latencies) / len(latencies) if latencies else math.nan
        per_s = 1 / wall_s if wall_s > 0 else 0.0
        return cls(
            requests=len(samples),
            ok=len(ok),
            errors=dict(sorted(Counter(s.kind for s in samples if not s.ok).items())),
            wall_s=wall_s,
            requests_per_s=len(ok) * per_s,
            pages_per_s=sum(s.pages for s in ok) * per_s,
            latency_s=figures,
        )

    def to_json(self) -> dict[str, Any]:
        # JSON has no NaN: a figure without samples is null.
        data = asdict(self)
        data["latency_s"] = {k: None if math.isnan(v) else v for k, v in self.latency_s.items()}
        data["error_rate"] = self.error_rate
        return data
