"""The service under steady load for a bounded time, watching every process's memory for a leak.

    .venv/bin/python -m loadtest.bench soak                 # configs/local.yaml, 10 minutes, 4 clients
    .venv/bin/python -m loadtest.bench soak --duration 600 --concurrency 4 --config configs/local.yaml

Starts the service itself (it has to see the service's processes), warms it up, then runs a closed loop of the
document mix for --duration seconds while sampling the resident memory (RSS) of every process of the service
every --interval seconds. Prints the requests answered, errors by kind and latency, then per process its RSS at
the start and end of the load and the slope of a least-squares line through its samples in MiB per hour: a leak
shows as a steady positive slope, allocator warm-up as a step that flattens. Writes <label>.json (the run and
every RSS sample) and <label>-rss.png to --out.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.bench import benchmark_parser
from loadtest.generator import Limits, closed_loop, warm_up
from loadtest.mix import Mix
from loadtest.processes import rss_bytes, server_pid, session_of, session_processes
from loadtest.progress import Progress
from loadtest.report import RunResult, summary_table
from loadtest.service import REPO, running_service
from loadtest.table import Column, format_table
from loadtest.target import Target

EVAL = REPO.parent / "shared" / "eval"
# Light and dense pages, PDFs and scans, so the soak exercises every path of the embedded pipeline.
DEFAULT_DOCS = [EVAL / "docling_ocr" / "sources", EVAL / "docling_pdf" / "sources" / "2305.03393v1-pg9.pdf",
                EVAL / "publaynet_examples" / "images" / "PMC4527132_00004.jpg",
                EVAL / "ocrd_kant_1784" / "INPUT_0017.tif"]
MIB = 1024 * 1024
SECONDS_PER_HOUR = 3600


@dataclass
class MemoryWatch:
    """RSS samples of every process of one session, keyed `name [pid]` (a replaced replica is a new key)."""

    session: int
    interval_s: float
    series: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self, now: float) -> None:
        for pid, name in session_processes(self.session).items():
            rss = rss_bytes(pid)
            if rss is not None:
                self.series.setdefault(f"{name} [{pid}]", []).append((now, rss))

    def run(self, started: float) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample(time.perf_counter() - started)

    def stop(self) -> None:
        self._stop.set()


def slope_mib_per_hour(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of RSS over time; 0 with fewer than two samples."""
    if len(samples) < 2:
        return 0.0
    count = len(samples)
    mean_t = sum(t for t, _ in samples) / count
    mean_r = sum(r for _, r in samples) / count
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if spread == 0:
        return 0.0
    slope = sum((t - mean_t) * (r - mean_r) for t, r in samples) / spread
    return slope * SECONDS_PER_HOUR / MIB


def second_half(samples: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """The samples of the run's second half: first-use allocations (a replica meeting its first big page) are
    done by then, so what still grows there is what a leak looks like."""
    end = samples[-1][0]
    return [(t, r) for t, r in samples if t >= end / 2]


def memory_table(series: dict[str, list[tuple[float, int]]]) -> str:
    """One line per process, the largest at the end of the run first."""
    columns = [Column("process", align="<"), Column("samples"), Column("start MiB", "{:.0f}"),
               Column("end MiB", "{:.0f}"), Column("max MiB", "{:.0f}"), Column("slope MiB/h", "{:.1f}"),
               Column("2nd half MiB/h", "{:.1f}")]
    rows = []
    for name, samples in sorted(series.items(), key=lambda item: -item[1][-1][1]):
        rss = [r for _, r in samples]
        rows.append((name, len(samples), rss[0] / MIB, rss[-1] / MIB, max(rss) / MIB, slope_mib_per_hour(samples),
                     slope_mib_per_hour(second_half(samples))))
    return format_table(columns, rows)


def plot_memory(series: dict[str, list[tuple[float, int]]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(11, 5))
    for name, samples in sorted(series.items(), key=lambda item: -item[1][-1][1]):
        axes.plot([t / 60 for t, _ in samples], [r / MIB for _, r in samples], label=name)
    axes.set(xlabel="minutes into the load", ylabel="RSS (MiB)", title=title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="x-small", ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__name__, __doc__)
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "local.yaml")
    parser.add_argument("--docs", type=Path, nargs="+", default=DEFAULT_DOCS)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (default %(default)s)")
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=4, help="clients (default: the admission limit, 4)")
    parser.add_argument("--warmup", type=int, default=8, help="unmeasured requests first")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "loadtest" / "results")
    parser.add_argument("--label", default="soak")
    args = parser.parse_args(argv)

    mix = Mix.from_paths(args.docs, {"visualize": False})
    limits = Limits(args.duration, args.max_requests)
    with tempfile.TemporaryDirectory() as workdir, running_service(Path(workdir), args.config) as url:
        target = Target(f"{url}/layout-parsing")
        watch = MemoryWatch(session_of(server_pid(url)), args.interval)
        asyncio.run(warm_up(target, mix.picks(args.seed + 1), args.warmup, args.concurrency))
        # The memory after warm-up is the baseline: models loaded, first-call allocations done.
        started = time.perf_counter()
        watch.sample(0.0)
        threading.Thread(target=watch.run, args=(started,), daemon=True).start()
        try:
            progress = Progress(f"[soak {args.concurrency} clients]", limits.duration_s, limits.max_requests)
            point = asyncio.run(closed_loop(target, mix.picks(args.seed), args.concurrency, limits, progress))
            watch.sample(time.perf_counter() - started)
        finally:
            watch.stop()
    result = RunResult(args.label, target.endpoint, "closed", mix.describe(),
                       {"duration": args.duration, "concurrency": args.concurrency, "config": str(args.config)},
                       [point])

    args.out.mkdir(parents=True, exist_ok=True)
    record = {**result.to_json(), "rss": {name: samples for name, samples in watch.series.items()}}
    (args.out / f"{args.label}.json").write_text(json.dumps(record))
    figure = args.out / f"{args.label}-rss.png"
    plot_memory(watch.series, figure, f"RSS of every service process, {args.duration / 60:g} min soak")
    print(summary_table(result))
    print()
    print(memory_table(watch.series))
    # Every sweep samples all processes at one timestamp, so the sums line up.
    total: dict[float, int] = {}
    for samples in watch.series.values():
        for t, rss in samples:
            total[t] = total.get(t, 0) + rss
    together = sorted(total.items())
    print(f"\nall processes together: {slope_mib_per_hour(together):.1f} MiB/h over the run, "
          f"{slope_mib_per_hour(second_half(together)):.1f} MiB/h over its second half")
    print(f"results: {args.out / f'{args.label}.json'}\nplot: {figure}")
    return 0

