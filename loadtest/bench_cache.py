"""A document sent twice: the second time from the page cache, against the first.

    .venv/bin/python -m loadtest.bench cache      # starts configs/local.yaml with the page cache on

One service with `page_cache.enabled` (its private Redis, `ocrvl serve` starts it); the dev set's born-digital PDFs
(`../shared/eval/docling_pdf`) sent one at a time with `textLayer: off`, so every region is read by OCR as on a
scan; then the same again. Seconds per pass, pages/s, and whether the second answers read the same (`prunedResult`, Markdown text; file
URLs are each response's own).
"""

from __future__ import annotations

import base64
import tempfile
import time
from pathlib import Path

import httpx

from loadtest.bench import benchmark_parser
from loadtest.bench_pages import EVAL, REQUEST_TIMEOUT_S
from loadtest.service import REPO, running_service
from loadtest.table import Column, format_table

CONFIG = REPO / "configs" / "local.yaml"
CACHE_ON = {"page_cache": {"enabled": True}}


def one_pass(client: httpx.Client, pdfs: list[Path]) -> tuple[float, int, list[dict]]:
    started = time.perf_counter()
    results = []
    for pdf in pdfs:
        body = {"file": base64.b64encode(pdf.read_bytes()).decode(), "fileType": 0, "visualize": False,
                "textLayer": "off"}
        response = client.post("/layout-parsing", json=body)
        response.raise_for_status()
        results += response.json()["result"]["layoutParsingResults"]
    return time.perf_counter() - started, len(results), results


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__name__, __doc__)
    parser.add_argument("--config", type=Path, default=CONFIG, help="the embedded service's config")
    args = parser.parse_args(argv)
    pdfs = sorted((EVAL / "docling_pdf" / "sources").glob("*.pdf"))
    with tempfile.TemporaryDirectory() as workdir, \
            running_service(Path(workdir), args.config, CACHE_ON) as url, \
            httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        first_s, pages, first = one_pass(client, pdfs)
        second_s, _, second = one_pass(client, pdfs)
    # The files' URLs are each response's own; what was read must be the same.
    same = all(a["prunedResult"] == b["prunedResult"] and a["markdown"]["text"] == b["markdown"]["text"]
               for a, b in zip(first, second, strict=True))
    columns = [Column("pass", align="<"), Column("pages"), Column("wall s", "{:.2f}"), Column("pages/s", "{:.1f}"),
               Column("vs first", "{:.1f}x")]
    rows = [("first (read by the stages)", pages, first_s, pages / first_s, 1.0),
            ("second (page cache)", pages, second_s, pages / second_s, first_s / second_s)]
    print(format_table(columns, rows))
    print(f"\nsecond answers equal to the first: {same}")
    return 0
