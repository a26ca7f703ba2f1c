"""Autoscaling under a load step: replicas and latency over time, autoscaled stages vs one fixed replica of each.

    .venv/bin/python -m loadtest.bench autoscaling
    .venv/bin/python -m loadtest.bench autoscaling --clients 4 --step-s 120 --tail-s 90

Two services from configs/local.yaml, one after the other: both stages autoscaled between 1 and 2 replicas
(loadtest/autoscaling.py: the settings, and the signal each stage scales on), and both stages fixed at one replica,
what the autoscaled one starts from. Each gets the same load: --idle-s quiet, then --clients clients sending the
embedded benchmark's eight real pages for --step-s, then one client for --tail-s. Prints one row per service and
phase (requests, latency, each stage's replicas as Ray Serve reports them) and plots replicas and latency over time
into docs/figures/bench-autoscaling.png.
"""

from __future__ import annotations

import asyncio
import base64
import math
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from loadtest.autoscaling import LAYOUT, RECOGNITION, STAGE_AUTOSCALING, ReplicaSample, ReplicaWatch
from loadtest.bench import benchmark_parser
from loadtest.bench_embedded import load_pages
from loadtest.generator import Limits, closed_loop
from loadtest.mix import Mix
from loadtest.service import REPO, running_service
from loadtest.stats import Sample, percentile
from loadtest.table import Column, format_table
from loadtest.target import Target

FIXED = {stage: {"num_replicas": 1} for stage in (LAYOUT, RECOGNITION)}


@dataclass(frozen=True)
class Phase:
    name: str
    started_s: float
    ended_s: float
    # Each request with `sent_s` from the watch's start, so phases and replica samples share one clock.
    answers: list[Sample]


@dataclass(frozen=True)
class StepRun:
    label: str
    phases: list[Phase]
    replicas: list[ReplicaSample]

    def replicas_during(self, phase: Phase, stage: str) -> tuple[int, int]:
        counts = [s.running(stage) for s in self.replicas if phase.started_s <= s.at_s <= phase.ended_s] or [0]
        return min(counts), max(counts)


async def load_step(url: str, label: str, mix: Mix, clients: int, idle_s: float, step_s: float,
                    tail_s: float) -> StepRun:
    target = Target(f"{url}/layout-parsing")
    documents = mix.cycle()
    phases = []
    async with ReplicaWatch(url) as watch:
        for name, concurrency, seconds in (("idle", 0, idle_s), ("step", clients, step_s), ("tail", 1, tail_s)):
            started = watch.now_s()
            if concurrency:
                point = await closed_loop(target, documents, concurrency, Limits(seconds, math.inf))
                answers = [replace(s, sent_s=started + s.sent_s) for s in point.samples]
            else:
                await asyncio.sleep(seconds)
                answers = []
            phases.append(Phase(name, started, watch.now_s(), answers))
        return StepRun(label, phases, watch.samples)


def table(runs: list[StepRun]) -> str:
    columns = [Column("service", align="<"), Column("phase", align="<"), Column("requests"), Column("failed"),
               Column("p50 s", "{:.2f}"), Column("p95 s", "{:.2f}"), Column("layout replicas", align=">"),
               Column("recognition replicas", align=">")]
    rows = []
    for run in runs:
        for phase in run.phases:
            latencies = [a.latency_s for a in phase.answers if a.ok]
            spans = ["{}-{}".format(*run.replicas_during(phase, stage)) for stage in (LAYOUT, RECOGNITION)]
            rows.append((run.label, phase.name, len(phase.answers), sum(not a.ok for a in phase.answers),
                         percentile(latencies, 50) if latencies else math.nan,
                         percentile(latencies, 95) if latencies else math.nan, *spans))
    return format_table(columns, rows)


def plot(runs: list[StepRun], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (replicas, latency) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    for run in runs:
        times = [s.at_s for s in run.replicas]
        for stage, style in ((RECOGNITION, "-"), (LAYOUT, ":")):
            replicas.step(times, [s.running(stage) for s in run.replicas], style, where="post",
                          label=f"{run.label}: {stage}")
        answers = [a for phase in run.phases for a in phase.answers if a.ok]
        latency.scatter([a.sent_s for a in answers], [a.latency_s for a in answers], s=8, label=run.label)
    for phase in runs[0].phases[1:]:
        for axis in (replicas, latency):
            axis.axvline(phase.started_s, color="grey", linewidth=0.5)
    replicas.set_ylabel("running replicas")
    replicas.legend(fontsize=7)
    latency.set_ylabel("latency (s), by send time")
    latency.set_xlabel("seconds")
    latency.legend(fontsize=7)
    figure.suptitle("Embedded service under a load step: autoscaled stages vs one replica each")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__name__, __doc__)
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "local.yaml")
    parser.add_argument("--clients", type=int, default=4, help="clients during the step")
    parser.add_argument("--idle-s", type=float, default=10.0)
    parser.add_argument("--step-s", type=float, default=120.0)
    parser.add_argument("--tail-s", type=float, default=90.0)
    parser.add_argument("--figure", type=Path, default=REPO / "docs" / "figures" / "bench-autoscaling.png")
    args = parser.parse_args(argv)

    mix = Mix.from_payloads([{"file": base64.b64encode(p).decode(), "fileType": 1, "visualize": False}
                             for p in load_pages()])
    runs = []
    for label, overrides in (("autoscaled 1-2", STAGE_AUTOSCALING), ("fixed 1", FIXED)):
        with tempfile.TemporaryDirectory() as workdir, running_service(
            Path(workdir), args.config, deployment_overrides=overrides
        ) as url:
            runs.append(asyncio.run(load_step(url, label, mix, args.clients, args.idle_s, args.step_s, args.tail_s)))
    print(table(runs))
    autoscaled, fixed = ([a.latency_s for a in run.phases[1].answers if a.ok] for run in runs)
    if autoscaled and fixed:
        print(f"step p50, autoscaled vs fixed: {percentile(autoscaled, 50) / percentile(fixed, 50):.2f}x")
    plot(runs, args.figure)
    return 0
