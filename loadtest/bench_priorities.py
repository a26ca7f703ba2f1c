"""Interactive latency under a bulk load, with request classes and without.

    .venv/bin/python -m loadtest.bench priorities

Two services one after the other (configs/local.yaml, one recognition replica whose queue holds every page in
flight, as in tests/service_scale), `priorities.enabled` on and off. On each: interactive requests (a one-page PDF)
one after another, alone; then the same while `--bulk` clients keep sending dense newspaper pages
(`loadtest/sample_pages.py`) marked `priority: batch`. The page cache is off for every request. Latency of the
interactive requests: p50, p99, and the bulk pages/s they shared the service with.
"""

from __future__ import annotations

import base64
import io
import tempfile
import threading
import time
from pathlib import Path
from statistics import quantiles

import httpx
import pypdfium2 as pdfium
from PIL import Image, ImageDraw

from loadtest.bench import benchmark_parser
from loadtest.sample_pages import newspaper_pdf
from loadtest.service import REPO, running_service
from loadtest.table import Column, format_table

CONFIG = REPO / "configs" / "local.yaml"
DEPLOYMENTS = {"RecognitionStage": {"num_replicas": 1, "max_ongoing_requests": 16}}
REQUEST_TIMEOUT_S = 600
# Bulk documents: dense pages, seconds of OCR each.
BULK_PAGES = 4


def one_page_pdf() -> bytes:
    document = pdfium.PdfDocument.new()
    page = document.new_page(300, 150)
    image = pdfium.PdfImage.new(document)
    picture = Image.new("RGB", (600, 300), "white")
    ImageDraw.Draw(picture).text((30, 120), "Where is my parcel?", fill="black", font_size=40)
    image.set_bitmap(pdfium.PdfBitmap.from_pil(picture))
    image.set_matrix(pdfium.PdfMatrix().scale(300, 150))
    page.insert_obj(image)
    page.gen_content()
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def body(data: bytes, **fields) -> dict:
    return {"file": base64.b64encode(data).decode(), "fileType": 0, "visualize": False, "pageCache": False, **fields}


def interactive_latencies(url: str, count: int) -> list[float]:
    latencies = []
    request = body(one_page_pdf())
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        for _ in range(count):
            started = time.perf_counter()
            client.post("/layout-parsing", json=request).raise_for_status()
            latencies.append(time.perf_counter() - started)
    return latencies


def under_bulk(url: str, count: int, bulk_clients: int) -> tuple[list[float], float]:
    """Interactive latencies while `bulk_clients` send batch documents back to back; and the bulk pages/s."""
    stop = threading.Event()
    pages = [0]
    request = body(newspaper_pdf(BULK_PAGES), priority="batch")

    def bulk() -> None:
        with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
            while not stop.is_set():
                client.post("/layout-parsing", json=request).raise_for_status()
                pages[0] += BULK_PAGES

    senders = [threading.Thread(target=bulk) for _ in range(bulk_clients)]
    started = time.perf_counter()
    for sender in senders:
        sender.start()
    time.sleep(10)  # the bulk pages fill the recognition queue
    latencies = interactive_latencies(url, count)
    stop.set()
    for sender in senders:
        sender.join()
    return latencies, pages[0] / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__name__, __doc__)
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--requests", type=int, default=12, help="interactive requests per run")
    parser.add_argument("--bulk", type=int, default=2, help="bulk clients")
    args = parser.parse_args(argv)
    rows = []
    for enabled in (True, False):
        with tempfile.TemporaryDirectory() as workdir, running_service(
            Path(workdir), args.config, {"priorities": {"enabled": enabled}}, DEPLOYMENTS
        ) as url:
            interactive_latencies(url, 2)  # warm-up
            if enabled:
                alone = interactive_latencies(url, args.requests)
                rows.append(("interactive alone", "-", *_p50_p99(alone), "-"))
            loaded, bulk_rate = under_bulk(url, args.requests, args.bulk)
            name = f"interactive under bulk, priorities {'on' if enabled else 'off'}"
            rows.append((name, args.bulk, *_p50_p99(loaded), f"{bulk_rate:.2f}"))
    columns = [Column("run", align="<"), Column("bulk clients"), Column("p50 s", "{:.2f}"), Column("p99 s", "{:.2f}"),
               Column("bulk pages/s")]
    print(format_table(columns, rows))
    return 0


def _p50_p99(latencies: list[float]) -> tuple[float, float]:
    cuts = quantiles(latencies, n=100, method="inclusive")
    return cuts[49], cuts[98]
