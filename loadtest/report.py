"""A load test's results: the JSON record, the terminal summary, the SLO verdict and the plots.

The JSON keeps every sample, so a run can be re-plotted or compared with another later (`loadtest plot`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.generator import CLOSED, OPEN, Point
from loadtest.stats import Sample
from loadtest.table import Column, format_table

FORMAT_VERSION = 1
LOAD_AXIS = {CLOSED: "concurrent clients", OPEN: "offered load (req/s)"}
TABLE_LATENCIES = ("p50", "p90", "p99", "max")


@dataclass
class RunResult:
    label: str
    endpoint: str
    mode: str
    documents: list[dict[str, Any]]
    settings: dict[str, Any]
    points: list[Point] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "label": self.label,
            "endpoint": self.endpoint,
            "mode": self.mode,
            "documents": self.documents,
            "settings": self.settings,
            "points": [
                {"load": p.load, "summary": p.summary.to_json(), "wall_s": p.wall_s,
                 "samples": [[s.sent_s, s.latency_s, s.status, s.pages, s.error, s.retry_after] for s in p.samples]}
                for p in self.points
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"not a loadtest result of format {FORMAT_VERSION}")
        points = [Point(data["mode"], p["load"], [Sample(*s) for s in p["samples"]], p["wall_s"])
                  for p in data["points"]]
        return cls(data["label"], data["endpoint"], data["mode"], data["documents"], data["settings"], points)

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Writes `<label>.json` and `<label>.png` into `directory`; returns both paths."""
        directory.mkdir(parents=True, exist_ok=True)
        record = directory / f"{self.label}.json"
        record.write_text(json.dumps(self.to_json()))
        figure = directory / f"{self.label}.png"
        plot([self], figure, title=f"{self.label}: {self.endpoint}")
        return record, figure


def load_result(path: Path) -> RunResult:
    return RunResult.from_json(json.loads(path.read_text()))


def _seconds(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def summary_table(result: RunResult) -> str:
    """One row per point, and the errors by kind of every point that had any."""
    columns = [Column("clients" if result.mode == CLOSED else "offered/s", "{:g}"), Column("requests"), Column("ok"),
               Column("errors"), Column("req/s", "{:.3f}"), Column("pages/s", "{:.3f}"),
               *(Column(f"{name} s", "{:.3f}") for name in TABLE_LATENCIES)]
    rows = []
    notes = []
    for point in result.points:
        summary = point.summary
        rows.append((point.load, summary.requests, summary.ok, summary.requests - summary.ok, summary.requests_per_s,
                     summary.pages_per_s, *(summary.latency_s[name] for name in TABLE_LATENCIES)))
        if summary.errors:
            kinds = ", ".join(f"{kind}: {count}" for kind, count in summary.errors.items())
            notes.append(f"errors at {point.load:g}: {kinds}")
    return "\n".join([format_table(columns, rows), *notes])


def slo_violations(result: RunResult, max_p99_s: float | None, max_error_rate: float | None) -> list[str]:
    """Every point that misses the SLO, and how; empty when all meet it. A point without a single success
    misses any latency SLO."""
    violations = []
    for point in result.points:
        summary = point.summary
        p99 = summary.latency_s["p99"]
        if max_p99_s is not None and (math.isnan(p99) or p99 > max_p99_s):
            violations.append(f"load {point.load:g}: p99 {_seconds(p99)} s > {max_p99_s:g} s")
        if max_error_rate is not None and summary.error_rate > max_error_rate:
            violations.append(f"load {point.load:g}: error rate {summary.error_rate:.3f} > {max_error_rate:g}")
    return violations


def plot(results: list[RunResult], path: Path, title: str | None = None) -> None:
    """Throughput and latency against load, one line per result: the curve users pick a service by."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = {r.mode for r in results}
    x_label = LOAD_AXIS[modes.pop()] if len(modes) == 1 else "load (clients or req/s)"
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(11, 4.2))
    for result in results:
        loads = [p.load for p in result.points]
        summaries = [p.summary for p in result.points]
        (line,) = throughput.plot(loads, [s.requests_per_s for s in summaries], marker="o", label=result.label)
        latency.plot(loads, [s.latency_s["p50"] for s in summaries], marker="o", linestyle="--",
                     color=line.get_color(), label=f"{result.label} p50")
        latency.plot(loads, [s.latency_s["p99"] for s in summaries], marker="^", color=line.get_color(),
                     label=f"{result.label} p99")
    throughput.set(xlabel=x_label, ylabel="successful requests/s", title="Throughput")
    latency.set(xlabel=x_label, ylabel="latency of successful requests (s)", title="Latency")
    for axes in (throughput, latency):
        axes.grid(alpha=0.3)
        axes.set_ylim(bottom=0)
        axes.legend(fontsize="small")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
