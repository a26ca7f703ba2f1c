"""Response size and latency of a 10-page PDF with pictures, its files inline (Base64) against as URLs.

    .venv/bin/python -m loadtest.bench delivery               # starts the service twice from configs/local.yaml
    .venv/bin/python -m loadtest.bench delivery --rounds 5

Both services are configs/local.yaml, one with `output.images: inline`, one with `url` (a filesystem store in a
temporary directory), started one after the other in one run. Each request parses the same PDF with the defaults
(visualisation on); on the URL side the client then GETs every file the response names, as the documented client
flow does, and the table shows that time and those bytes too.
"""

from __future__ import annotations

import base64
import io
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pypdfium2 as pdfium

from loadtest.bench import benchmark_parser
from loadtest.service import REPO, running_service
from loadtest.table import Column, format_table

EVAL = REPO.parent / "shared" / "eval" / "docling_pdf" / "sources"
# Pages with pictures first, then text pages, until the document has PAGES pages.
SOURCES = ("amt_handbook_sample.pdf", "picture_classification.pdf", "2305.03393v1-pg9.pdf", "normal_4pages.pdf")
PAGES = 10
TIMEOUT_S = 900


@dataclass(frozen=True)
class Sample:
    parse_s: float
    response_bytes: int
    files: int
    files_bytes: int
    files_s: float


def ten_page_pdf() -> bytes:
    """PAGES pages taken in turn from the dev PDFs in SOURCES."""
    sources = [pdfium.PdfDocument(EVAL / name) for name in SOURCES]
    document = pdfium.PdfDocument.new()
    index = 0
    while len(document) < PAGES:
        source = sources[index % len(sources)]
        document.import_pages(source, [(index // len(sources)) % len(source)])
        index += 1
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def file_values(result: dict) -> list[str]:
    """Every file value of a response: Markdown pictures, visualisations, input images."""
    values = []
    for page in result["layoutParsingResults"]:
        values += list((page["markdown"].get("images") or {}).values())
        values += list((page.get("outputImages") or {}).values())
        values += [page["inputImage"]] if "inputImage" in page else []
    return values


def measure(url: str, body: dict, rounds: int, download: bool) -> list[Sample]:
    samples = []
    with httpx.Client(base_url=url, timeout=TIMEOUT_S) as client:
        client.post("/layout-parsing", json=body).raise_for_status()  # warm-up
        for _ in range(rounds):
            started = time.perf_counter()
            answer = client.post("/layout-parsing", json=body)
            parsed = time.perf_counter()
            answer.raise_for_status()
            values = file_values(answer.json()["result"])
            files_bytes = sum(len(client.get(v).raise_for_status().content) for v in values) if download else 0
            samples.append(Sample(parsed - started, len(answer.content), len(values), files_bytes,
                                  time.perf_counter() - parsed))
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__name__, __doc__)
    parser.add_argument("--rounds", type=int, default=3, help="requests per mode, after one warm-up")
    args = parser.parse_args(argv)
    body = {"file": base64.b64encode(ten_page_pdf()).decode(), "fileType": 0}
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for mode in ("inline", "url"):
            overrides = {"output": {"images": mode}, "storage": {"filesystem": {"root": f"{workdir}/results"}}}
            service_dir = Path(workdir) / mode
            service_dir.mkdir()
            with running_service(service_dir, args_overrides=overrides) as url:
                samples = measure(url, body, args.rounds, download=mode == "url")
            rows.append((mode, samples))
    inline = rows[0][1]
    columns = [
        Column("images", align="<"), Column("requests"), Column("parse s", "{:.2f}"), Column("response KiB", "{:.0f}"),
        Column("files"), Column("GET files s", "{:.2f}"), Column("file KiB", "{:.0f}"),
        Column("response size vs inline", "{:.3f}x"), Column("parse time vs inline", "{:.2f}x"),
    ]
    table = []
    for mode, samples in rows:
        parse_s = statistics.mean(s.parse_s for s in samples)
        size = statistics.mean(s.response_bytes for s in samples)
        table.append((
            mode, len(samples), parse_s, size / 1024, samples[0].files,
            statistics.mean(s.files_s for s in samples) if mode == "url" else None,
            statistics.mean(s.files_bytes for s in samples) / 1024 if mode == "url" else None,
            size / statistics.mean(s.response_bytes for s in inline),
            parse_s / statistics.mean(s.parse_s for s in inline),
        ))
    print(format_table(columns, table))
    return 0
