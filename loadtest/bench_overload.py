"""Benchmark: the service past capacity. Requests over the admission limit must be turned away fast, with
Retry-After, while the admitted ones keep the throughput and a latency near the service's at capacity.

    .venv/bin/python -m loadtest.bench_overload                  # starts configs/local.yaml itself
    .venv/bin/python -m loadtest.bench_overload --factor 4 --duration 60

Three runs on the same eight real pages (single-page PNGs, visualize off), one after another in one process:
unloaded (one request at a time), at capacity (a closed loop of as many clients as the admission limit), and
overload (Poisson arrivals at `factor` x the measured capacity for `duration` seconds). Prints one table.
"""

from __future__ import annotations

import argparse
import base64
import math
import sys
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import yaml

from loadtest.bench import load_pages
from loadtest.runs import closed_point, open_point
from loadtest.service import REPO, running_service
from loadtest.stats import Sample, percentile
from serve.config import ServiceConfig

SHED = (429, 503)


@dataclass(frozen=True)
class Row:
    run: str
    offered_per_s: float | None
    outcomes: list[Sample]
    wall_s: float

    def latencies(self, accepted: bool) -> list[float]:
        return [o.latency_s for o in self.outcomes if (o.status not in SHED) == accepted]


def closed_row(name: str, url: str, payloads: list[dict], clients: int) -> Row:
    point = closed_point(url, payloads, clients, warm_up_requests=clients)
    return Row(name, None, point.samples, point.wall_s)


def print_table(rows: list[Row], unloaded: Row) -> None:
    def ms(value: float) -> str:
        return "-" if math.isnan(value) else f"{value * 1000:.0f}"

    def s(value: float) -> str:
        return "-" if math.isnan(value) else f"{value:.2f}"

    base_p99 = percentile(unloaded.latencies(True), 99)
    print(f"{'run':<16}{'offered/s':>10}{'sent':>6}{'ok':>5}{'shed':>6}{'other':>6}{'accepted/s':>11}"
          f"{'shed p50 ms':>12}{'shed p99 ms':>12}{'ok p50 s':>10}{'ok p99 s':>10}{'ok p99 vs unloaded':>20}")
    for row in rows:
        ok = [o for o in row.outcomes if o.status == 200]
        shed = [o for o in row.outcomes if o.status in SHED]
        other = len(row.outcomes) - len(ok) - len(shed)
        p99 = percentile(row.latencies(True), 99)
        ratio = "-" if math.isnan(p99) else f"{p99 / base_p99:.2f}x"
        offered = "-" if row.offered_per_s is None else f"{row.offered_per_s:.2f}"
        print(f"{row.run:<16}{offered:>10}{len(row.outcomes):>6}{len(ok):>5}{len(shed):>6}{other:>6}"
              f"{len(ok) / row.wall_s:>11.2f}{ms(percentile(row.latencies(False), 50)):>12}"
              f"{ms(percentile(row.latencies(False), 99)):>12}{s(percentile(row.latencies(True), 50)):>10}"
              f"{s(p99):>10}{ratio:>20}")
    retry_after = sorted({o.retry_after for row in rows for o in row.outcomes if o.status in SHED} - {None})
    print(f"Retry-After on shed requests: {', '.join(retry_after) or '-'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running service; default: start one from --config")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "local.yaml")
    parser.add_argument("--factor", type=float, default=4.0, help="offered load as a multiple of capacity")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of overload")
    parser.add_argument("--rounds", type=int, default=3, help="times each page is sent in the capacity run")
    args = parser.parse_args(argv)

    config = ServiceConfig.model_validate(yaml.safe_load(args.config.read_text())["applications"][0]["args"])
    clients = config.admission.max_requests_in_flight
    payloads = [{"file": base64.b64encode(p).decode(), "fileType": 1, "visualize": False} for p in load_pages()]
    with tempfile.TemporaryDirectory() as workdir:
        service = nullcontext(args.url) if args.url else running_service(Path(workdir), args.config)
        with service as base:
            url = f"{base}/layout-parsing"
            unloaded = closed_row("unloaded", url, payloads, 1)
            capacity = closed_row("at capacity", url, payloads * args.rounds, clients)
            rate = args.factor * len(capacity.outcomes) / capacity.wall_s
            open_run = open_point(url, payloads, rate, args.duration)
            overload = Row(f"overload {args.factor:g}x", rate, open_run.samples, open_run.wall_s)
    print_table([unloaded, capacity, overload], unloaded)
    return 0


if __name__ == "__main__":
    sys.exit(main())
