"""Nothing lost on real pages: text accuracy and speed with the page structure read from its lines, and without.

    .venv/bin/python -m loadtest.bench structure

Two embedded pipelines in this process, one after the other on the same pages (`loadtest/direct.py`, the
service's own `DocumentPipeline` with its stages called directly, so the figures are the reading's):

- **as laid out**: the layout model's regions read as they are (`refine_regions: false`, `spacing: null`);
- **structure**: the defaults, which re-read the regions from their lines (tables found and refused, header rows
  kept in their table, text under picture boxes, furniture labelled, paragraphs and titles;
  `serve/backends/line_structure.py`) and put back the spaces OCR ran together (`layout/spacing.py`).

The pages: the dev set's born-digital PDFs (`../shared/eval/docling_pdf`, as a client sends them: the text layer
reads what it can) and the same pages as PNG (OCR reads everything), scored against their ground truth; and the pages
made for issue 18's failure classes (`loadtest/sample_pages.py`), scored against their own truth, with the share of
the statement's table rows that come back as rows of an HTML table. Accuracy is 1 − normalised edit distance over
the Markdown (`loadtest/accuracy.py`), so furniture left in the Markdown counts against it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean

import yaml

from layout.table_merge import table_rows
from loadtest.accuracy import ground_truth, text_accuracy
from loadtest.bench import benchmark_parser
from loadtest.bench_pages import EVAL, page_pngs
from loadtest.direct import direct_pipeline
from loadtest.sample_pages import SAMPLE_PAGES, SamplePage
from loadtest.service import REPO
from loadtest.table import Column, format_table
from serve.config import ServiceConfig
from serve.delivery import InlineDelivery
from serve.pipeline import DocumentPipeline, ParseOptions
from serve.protocol import LayoutParsingRequest

CONFIG = REPO / "configs" / "local.yaml"
AS_LAID_OUT = {"refine_regions": False, "spacing": None}
PDF_FILE_TYPE, IMAGE_FILE_TYPE = 0, 1


@dataclass
class Reader:
    name: str
    pipeline: DocumentPipeline
    options: ParseOptions
    seconds: dict[str, float] = field(default_factory=dict)

    def markdown(self, data: bytes, file_type: int, group: str) -> str:
        started = time.perf_counter()
        result = asyncio.run(self.pipeline.parse(data, file_type, None, self.options, InlineDelivery()))
        self.seconds[group] = self.seconds.get(group, 0.0) + time.perf_counter() - started
        return "\n\n".join(page.markdown.text for page in result.layoutParsingResults)


def reader(name: str, config_path: Path, backend_options: dict) -> Reader:
    args = yaml.safe_load(config_path.read_text())["applications"][0]["args"]
    recognition = args.setdefault("recognition", {})
    recognition["backend_options"] = {**recognition.get("backend_options", {}), **backend_options}
    config = ServiceConfig.model_validate(args)
    pipeline, backend = direct_pipeline(config)
    request = LayoutParsingRequest(file="", fileType=IMAGE_FILE_TYPE, visualize=False)
    return Reader(name, pipeline, ParseOptions.from_request(request, config, backend.capabilities))


def table_rows_found(markdown: str, page: SamplePage) -> float:
    """Share of the page's table rows that come back as a row of an HTML table, cell for cell."""
    found = {tuple(cell.text.strip() for cell in row.cells) for row in table_rows(markdown)}
    return sum(tuple(row) in found for row in page.table) / len(page.table)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__name__, __doc__)
    parser.add_argument("--config", type=Path, default=CONFIG, help="the embedded service's config")
    args = parser.parse_args(argv)
    pdfs = sorted((EVAL / "docling_pdf" / "sources").glob("*.pdf"))
    samples = [make() for make in SAMPLE_PAGES.values()]
    readers = [reader("as laid out", args.config, AS_LAID_OUT), reader("structure", args.config, {})]
    for r in readers:  # the first inference allocates: not a page's time
        r.markdown(samples[0].png, IMAGE_FILE_TYPE, "warm-up")
    scores: dict[tuple[str, str], float] = {}
    pages = {"dev PDFs": 0, "dev pages as PNG": 0, "made pages": len(samples)}
    for pdf in pdfs:
        truth = ground_truth(pdf).read_text()
        pngs = page_pngs(pdf)
        pages["dev PDFs"] += len(pngs)
        pages["dev pages as PNG"] += len(pngs)
        for r in readers:
            scores[r.name, pdf.name] = text_accuracy(r.markdown(pdf.read_bytes(), PDF_FILE_TYPE, "dev PDFs"), truth)
            read = "\n\n".join(r.markdown(png, IMAGE_FILE_TYPE, "dev pages as PNG") for png in pngs)
            scores[r.name, f"{pdf.name} as PNG"] = text_accuracy(read, truth)
    tables: dict[tuple[str, str], float] = {}
    for page in samples:
        for r in readers:
            markdown = r.markdown(page.png, IMAGE_FILE_TYPE, "made pages")
            scores[r.name, page.name] = text_accuracy(markdown, page.truth)
            if page.table:
                tables[r.name, page.name] = table_rows_found(markdown, page)
    before, after = readers
    per_page = [Column("page", align="<"), Column(f"{before.name}", "{:.3f}"), Column(f"{after.name}", "{:.3f}")]
    rows = [(name, scores[before.name, name], scores[after.name, name])
            for name in dict.fromkeys(name for _, name in scores)]
    rows += [(f"{name}: table rows as rows", tables[before.name, name], tables[after.name, name])
             for name in dict.fromkeys(name for _, name in tables)]
    print(format_table(per_page, rows))
    print()
    groups = [Column("pages", align="<"), Column("n"), Column("accuracy before", "{:.3f}"),
              Column("accuracy after", "{:.3f}"), Column("s/page before", "{:.2f}"), Column("s/page after", "{:.2f}"),
              Column("time after/before", "{:.2f}x")]
    summary = []
    for group, count in pages.items():
        names = [name for name in dict.fromkeys(n for _, n in scores) if _group(name, samples) == group]
        summary.append((group, count, mean(scores[before.name, n] for n in names),
                        mean(scores[after.name, n] for n in names), before.seconds[group] / count,
                        after.seconds[group] / count, after.seconds[group] / before.seconds[group]))
    print(format_table(groups, summary))
    return 0


def _group(name: str, samples: list[SamplePage]) -> str:
    if any(page.name == name for page in samples):
        return "made pages"
    return "dev pages as PNG" if name.endswith(" as PNG") else "dev PDFs"
