"""How long the service takes to serve again after its vLLM engine is killed under load.

    .venv/bin/python -m loadtest.tiny_models var/models/tiny-paddleocr-vl   # once
    .venv/bin/python -m loadtest.bench recovery --kills 5
    .venv/bin/python -m loadtest.bench recovery --kills 3 --periods 10,2   # Ray's default period against ours

Starts configs/vl-cpu-tiny.yaml, keeps four clients posting one-page requests (each waits the Retry-After of a
503, as the official clients do), then `--kills` times: SIGKILL the recognition replica's `VLLM::EngineCore`,
and time, from the kill, the first 503, the moment Ray Serve takes the replica out of service (readiness shows
no running RecognitionStage replica), readiness 200 again, and the clients' first 200. Prints one row per kill,
then the bound that loadtest/recovery.py derives from the config and the measured start-up.
"""

from __future__ import annotations

import base64
import os
import signal
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from loadtest.bench import benchmark_parser
from loadtest.bench_embedded import load_pages
from loadtest.processes import server_pid, session_of, session_processes
from loadtest.recovery import RecoveryBound, wait_until, watch_replacement
from loadtest.service import REPO, running_service
from loadtest.table import Column, format_table

CONFIG = REPO / "configs" / "vl-cpu-tiny.yaml"
STAGE = "RecognitionStage"
CLIENTS = 4
# Every client's answers before the kill show the engine serving; give them a few.
WARM_S = 5.0
# A bound only for this tool's own waits: twice what recovery.py allows, so a slow run is measured, not lost.
PATIENCE = 2.0


@dataclass
class Clients:
    """Clients posting until stopped; `answers` holds (time.monotonic(), status) of every answer."""

    url: str
    payload: dict
    answers: list[tuple[float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=300) as client:
            while not self.stop.is_set():
                response = client.post("/layout-parsing", json=self.payload)
                self.answers.append((time.monotonic(), response.status_code))
                if response.status_code == 503:
                    time.sleep(float(response.headers.get("Retry-After", 1)))

    def first(self, status: int, after: float) -> float | None:
        return next((t - after for t, s in list(self.answers) if s == status and t > after), None)


def engine_pids(url: str) -> list[int]:
    session = session_of(server_pid(url))
    return [pid for pid, name in session_processes(session).items() if name == "VLLM::EngineCore"]


def measure(url: str, kills: int, bound: RecoveryBound) -> list[dict[str, float | None]]:
    clients = Clients(url, {"file": base64.b64encode(load_pages()[0]).decode(), "visualize": False, "maxNewTokens": 16})
    threads = [threading.Thread(target=clients.run) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    patient = RecoveryBound(*(PATIENCE * s for s in (bound.detection_s, bound.stop_s, bound.start_s)))
    rows = []
    try:
        with httpx.Client(base_url=url) as probe:
            for _ in range(kills):
                time.sleep(WARM_S)
                wait_until(lambda: len(engine_pids(url)) == 1, patient.start_s, "no engine process to kill")
                [engine] = engine_pids(url)
                os.kill(engine, signal.SIGKILL)
                killed = time.monotonic()
                replacement = watch_replacement(probe, STAGE, killed, patient)
                wait_until(lambda: clients.first(200, killed + replacement.noticed_s) is not None, patient.start_s,
                           "no client got a 200 from the new replica")
                rows.append({"first 503": clients.first(503, killed), "taken out": replacement.noticed_s,
                             "ready": replacement.ready_s,
                             "first 200": clients.first(200, killed + replacement.noticed_s)})
                print(f"kill {len(rows)}: " + ", ".join(f"{k} {v:.1f} s" for k, v in rows[-1].items() if v is not None),
                      flush=True)
    finally:
        clients.stop.set()
        for thread in threads:
            thread.join()
    return rows


def table(rows: list[dict[str, float | None]], bound: RecoveryBound, started_in_s: float) -> str:
    """One line per kill, then the median and the max of each column."""
    names = list(rows[0])
    cells: list[list[object]] = [[i, *(row[name] for name in names)] for i, row in enumerate(rows, 1)]
    measured = [[row[name] for row in rows if row[name] is not None] for name in names]
    for label, pick in (("median", statistics.median), ("max", max)):
        cells.append([label, *(pick(values) if values else None for values in measured)])
    columns = [Column("kill"), *(Column(name, "{:.1f}") for name in names)]
    return (f"{format_table(columns, cells)}\n\nseconds from the kill; service start-up measured {started_in_s:.1f} s"
            f"\nbound: detection {bound.detection_s:.0f} s + stop {bound.stop_s:.0f} s"
            f" + start {bound.start_s:.0f} s = {bound.total_s:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__name__, __doc__)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--periods", default="",
                        help="comma-separated health_check_period_s values to run side by side instead of the config's")
    args = parser.parse_args(argv)
    periods = [float(p) for p in args.periods.split(",") if p] or [None]
    tables = []
    for period in periods:
        overrides = {} if period is None else {STAGE: {"health_check_period_s": period}}
        with tempfile.TemporaryDirectory() as workdir:
            started = time.monotonic()
            with running_service(Path(workdir), CONFIG, deployment_overrides=overrides) as url:
                started_in_s = time.monotonic() - started
                # The copy `running_service` serves, overrides included.
                bound = RecoveryBound.of(Path(workdir) / "config.yaml", STAGE, started_in_s)
                tables.append((period, measure(url, args.kills, bound), bound, started_in_s))
    for period, rows, bound, started_in_s in tables:
        print(f"\n{STAGE} health_check_period_s: {'as configured' if period is None else period}")
        print(f"\n{table(rows, bound, started_in_s)}")
    return 0

