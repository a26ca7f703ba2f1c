"""The service past capacity: excess requests turned away fast with Retry-After, admitted ones still served.

    .venv/bin/python -m loadtest.bench overload                  # starts configs/local.yaml itself
    .venv/bin/python -m loadtest.bench overload --factor 4 --duration 60

Three runs on the same eight real pages (single-page PNGs, visualize off), one after another in one process:
unloaded (one request at a time), at capacity (a closed loop of as many clients as the admission limit), and
overload (Poisson arrivals at `factor` x the measured capacity for `duration` seconds). Prints one table. Under
overload the admitted requests must keep the throughput and a latency near the service's at capacity.
"""

from __future__ import annotations

import base64
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import yaml

from loadtest.bench import benchmark_parser
from loadtest.bench_embedded import load_pages
from loadtest.runs import closed_point, open_point
from loadtest.service import REPO, running_service
from loadtest.stats import Sample, percentile
from loadtest.table import Column, format_table
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


def table(rows: list[Row], unloaded: Row) -> str:
    columns = [Column("run", align="<"), Column("offered/s", "{:.2f}"), Column("sent"), Column("ok"), Column("shed"),
               Column("other"), Column("accepted/s", "{:.2f}"), Column("shed p50 ms", "{:.0f}"),
               Column("shed p99 ms", "{:.0f}"), Column("ok p50 s", "{:.2f}"), Column("ok p99 s", "{:.2f}"),
               Column("ok p99 vs unloaded", "{:.2f}x")]
    base_p99 = percentile(unloaded.latencies(True), 99)
    cells = []
    for row in rows:
        ok = sum(o.status == 200 for o in row.outcomes)
        shed = sum(o.status in SHED for o in row.outcomes)
        accepted, turned_away = row.latencies(True), row.latencies(False)
        cells.append((row.run, row.offered_per_s, len(row.outcomes), ok, shed, len(row.outcomes) - ok - shed,
                      ok / row.wall_s, percentile(turned_away, 50) * 1000, percentile(turned_away, 99) * 1000,
                      percentile(accepted, 50), percentile(accepted, 99), percentile(accepted, 99) / base_p99))
    retry_after = sorted({o.retry_after for row in rows for o in row.outcomes if o.status in SHED} - {None})
    return f"{format_table(columns, cells)}\nRetry-After on shed requests: {', '.join(retry_after) or '-'}"


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__name__, __doc__)
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
    print(table([unloaded, capacity, overload], unloaded))
    return 0

