"""The service's pages/s and latency against the same embedded models called directly.

    .venv/bin/python -m loadtest.bench embedded         # starts the service from configs/local.yaml itself
    .venv/bin/python -m loadtest.bench embedded --url http://127.0.0.1:8080

Prints one table and draws docs/figures/bench-embedded.png. Both sides parse the same single-page images with the
same defaults (visualize off); the direct side runs first, then the service at each number of requests in flight,
all in one run so the figures are comparable on a shared, noisy machine.
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import cv2
import pypdfium2 as pdfium
import yaml

from loadtest.bench import benchmark_parser
from loadtest.direct import direct_pipeline
from loadtest.runs import Run, plot_runs, post_closed_loop
from loadtest.service import REPO, running_service
from loadtest.table import Column, format_table
from serve.backends import RECOGNITION_BACKENDS, backend_class
from serve.config import ServiceConfig
from serve.delivery import InlineDelivery
from serve.pipeline import ParseOptions
from serve.protocol import LayoutParsingRequest

EVAL = REPO.parent / "shared" / "eval"
PDF_PAGES = [("docling_pdf/sources/2305.03393v1-pg9.pdf", 0), ("docling_pdf/sources/normal_4pages.pdf", 0),
             ("docling_pdf/sources/amt_handbook_sample.pdf", 0), ("docling_pdf/sources/multi_page.pdf", 0)]
IMAGE_PAGES = ["publaynet_examples/images/PMC4527132_00004.jpg", "publaynet_examples/images/PMC3654277_00006.jpg",
               "publaynet_examples/images/PMC5491943_00004.jpg", "publaynet_examples/images/PMC4954804_00001.jpg"]
# Both sides return files inline: the comparison is of the pipeline, not of where its files go (that is
# `python -m loadtest.bench delivery`).
INLINE = {"output": {"images": "inline"}}


def load_pages() -> list[bytes]:
    """Eight real pages as PNG bytes: four PDF pages rendered at the service's scale, four scans."""
    pages = []
    for path, index in PDF_PAGES:
        bitmap = pdfium.PdfDocument(EVAL / path)[index].render(scale=2.0).to_numpy()[:, :, :3][:, :, ::-1]
        pages.append(cv2.imencode(".png", bitmap)[1].tobytes())
    pages += [cv2.imencode(".png", cv2.imread(str(EVAL / path)))[1].tobytes() for path in IMAGE_PAGES]
    return pages


def run_direct(config: ServiceConfig, pages: list[bytes]) -> Run:
    pipeline, backend = direct_pipeline(config)
    request = LayoutParsingRequest(file="", fileType=1, visualize=False)
    options = ParseOptions.from_request(request, config, backend.capabilities)
    delivery = InlineDelivery()  # as the service side is run (INLINE)
    asyncio.run(pipeline.parse(pages[0], 1, None, options, delivery))  # warm-up: first inference allocates
    latencies = []
    started = time.perf_counter()
    for page in pages:
        t0 = time.perf_counter()
        asyncio.run(pipeline.parse(page, 1, None, options, delivery))
        latencies.append(time.perf_counter() - t0)
    return Run("direct, one process", 1, latencies, time.perf_counter() - started)


def run_service(url: str, pages: list[bytes], in_flight: int) -> Run:
    payloads = [{"file": base64.b64encode(p).decode(), "fileType": 1, "visualize": False} for p in pages]
    return post_closed_loop("service", f"{url}/layout-parsing", payloads, in_flight, warm_up=in_flight)


def table(runs: list[Run], baseline: Run) -> str:
    columns = [Column("mode", align="<"), Column("in flight"), Column("pages"), Column("wall s", "{:.2f}"),
               Column("pages/s", "{:.3f}"), Column("mean latency s", "{:.3f}"),
               Column("pages/s vs direct", "{:.2f}x"), Column("latency vs direct", "{:.2f}x")]
    rows = []
    for run in runs:
        latency = statistics.mean(run.latencies)
        rows.append((run.mode, run.concurrency, len(run.latencies), run.wall_s, run.per_s, latency,
                     run.per_s / baseline.per_s, latency / statistics.mean(baseline.latencies)))
    return format_table(columns, rows)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__name__, __doc__)
    parser.add_argument("--url", help="a running service; default: start one from --config")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "local.yaml")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 2, 4], help="concurrent requests per run")
    parser.add_argument("--rounds", type=int, default=2, help="times each page is sent in runs with several in flight")
    parser.add_argument("--figure", type=Path, default=REPO / "docs" / "figures" / "bench-embedded.png")
    args = parser.parse_args(argv)

    raw = yaml.safe_load(args.config.read_text())
    config = ServiceConfig.model_validate(raw["applications"][0]["args"])
    backend_class(RECOGNITION_BACKENDS, config.recognition.backend)  # fail fast on a bad config
    pages = load_pages()
    with tempfile.TemporaryDirectory() as workdir:
        service = nullcontext(args.url) if args.url else running_service(Path(workdir), args.config, INLINE)
        with service as url:
            baseline = run_direct(config, pages)
            runs = [baseline] + [run_service(url, pages * (1 if n == 1 else args.rounds), n) for n in args.in_flight]
    print(table(runs, baseline))
    plot_runs(runs, args.figure, "Embedded pipeline: the service vs the same models in one process")
    return 0
