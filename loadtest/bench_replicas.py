"""The embedded service with one and with two replicas of its bottleneck stage, OCR recognition.

    .venv/bin/python -m loadtest.bench replicas                  # configs/local.yaml, 1 and 2 replicas
    .venv/bin/python -m loadtest.bench replicas --replicas 1 2 --clients 1 2 4 --duration 90

For each replica count the service is started from --config with RecognitionStage's `num_replicas` replaced, then
the load generator's closed loop runs at each number of clients over the embedded benchmark's eight real pages,
--duration seconds per point, after a warm-up. Prints one table per replica count and draws both curves into
docs/figures/bench-replicas.png; the runs' JSON goes to loadtest/results/.
"""

from __future__ import annotations

import asyncio
import base64
import tempfile
from pathlib import Path

from loadtest.bench import benchmark_parser
from loadtest.bench_embedded import load_pages
from loadtest.generator import CLOSED, Limits, sweep
from loadtest.mix import Mix
from loadtest.report import RunResult, plot, summary_table
from loadtest.service import REPO, running_service
from loadtest.target import Target

STAGE = "RecognitionStage"


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__name__, __doc__)
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "local.yaml")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--duration", type=float, default=90.0, help="seconds per point")
    parser.add_argument("--out", type=Path, default=REPO / "loadtest" / "results")
    parser.add_argument("--figure", type=Path, default=REPO / "docs" / "figures" / "bench-replicas.png")
    args = parser.parse_args(argv)

    mix = Mix.from_payloads([{"file": base64.b64encode(p).decode(), "fileType": 1, "visualize": False}
                             for p in load_pages()])
    limits = Limits(args.duration, max_requests=10_000)
    results = []
    for replicas in args.replicas:
        label = f"{replicas} {STAGE} replica" + ("s" if replicas > 1 else "")
        with tempfile.TemporaryDirectory() as workdir, running_service(
            Path(workdir), args.config, deployment_overrides={STAGE: {"num_replicas": replicas}}
        ) as url:
            target = Target(f"{url}/layout-parsing")
            points = asyncio.run(sweep(target, mix.picks(seed=0), CLOSED, args.clients, limits,
                                       warm_up_requests=max(args.clients), label=f"{label}, "))
            results.append(RunResult(label, target.endpoint, CLOSED, mix.describe(), {"duration": args.duration},
                                     points))
    for result in results:
        print(f"\n{result.label}\n{summary_table(result)}")
        result.write(args.out)
    first, *rest = results
    for result in rest:
        ratios = ", ".join(f"{a.load:g} clients {b.summary.requests_per_s / a.summary.requests_per_s:.2f}x"
                           for a, b in zip(first.points, result.points) if a.summary.requests_per_s)
        print(f"{result.label} vs {first.label}, req/s: {ratios}")
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    plot(results, args.figure, f"Embedded service: 1 vs 2 replicas of the OCR stage ({args.duration:g} s per point)")
    return 0

