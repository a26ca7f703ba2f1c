"""`ocrvl parse`: documents — files, folders, globs, http(s) URLs — parsed by a running service, each written as the
documented client flow writes it, resumably, with progress. Built on the typed client (serve/client.py).

For each document, under `OUT/<name>/`: `page_<n>.md` per page (n from 0) with every picture it links to at its
relative path (`imgs/…`), the layout pictures when `visualize` is on (`<kind>_<n>.jpg`), `<name>.md` (the pages'
Markdown, one after the other) and `result.json` (the service's `result`: `layoutParsingResults`, `dataInfo`).
`result.json` is written last, so a document that has it is complete and is skipped by the next run (`--force`
parses it again). Documents of more than `--job-pages` pages, and URLs (whose size is unknown here), go through the
Job API, their pages written as they are done; the rest through the synchronous endpoint.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
from PIL import Image, UnidentifiedImageError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from serve.client import (
    DEFAULT_BASE_URL,
    DEFAULT_JOB_MODEL,
    AuthError,
    Client,
    ConnectionFailedError,
    JobFailedError,
    OcrvlError,
    Page,
    RetryPolicy,
    wire_options,
)
from serve.protocol import LayoutParsingResult

# What a folder is searched for (recursively).
DOCUMENT_SUFFIXES = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
DEFAULT_OUT = Path("ocrvl-out")
DEFAULT_CONCURRENCY = 4
# More pages than this go through the Job API: no proxy timeout, pages written as they are done.
DEFAULT_JOB_PAGES = 10
DEFAULT_RETRIES = 5
RESULT_FILE = "result.json"
# Between two pages' Markdown in the document's one Markdown file.
PAGE_SEPARATOR = "\n\n"
# How often a job's pages are asked for.
JOB_POLL_INTERVAL_S = 1.0
# Each input's fate; the run's exit status is the worst.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
SERVER_ENV = "OCRVL_SERVER"
TOKEN_ENV = "OCRVL_TOKEN"


class UsageError(ValueError):
    """The command line names nothing to parse, or options that cannot be read."""


@dataclass(frozen=True)
class Source:
    """One document to parse: a path or a URL, and the name its outputs go under."""

    ref: str
    name: str

    @property
    def is_url(self) -> bool:
        return self.ref.startswith(("http://", "https://"))


@dataclass
class Outcome:
    source: Source
    pages: int = 0
    seconds: float = 0.0
    error: str | None = None
    skipped: bool = False


def collect_sources(inputs: Sequence[str]) -> list[Source]:
    """Every document named: URLs as they are, files, folders searched recursively by suffix, and globs the shell
    did not expand. Names come from the file names, made unique in input order (`a`, `a-2`, …), so a later run
    gives every document the same name again."""
    refs: list[str] = []
    for item in inputs:
        if item.startswith(("http://", "https://")):
            refs.append(item)
        elif Path(item).is_dir():
            refs += sorted(str(p) for p in Path(item).rglob("*") if p.suffix.lower() in DOCUMENT_SUFFIXES and p.is_file())
        elif Path(item).is_file():
            refs.append(item)
        elif matches := sorted(glob.glob(item, recursive=True)):
            refs += [m for m in matches if Path(m).is_file()]
        else:
            raise UsageError(f"{item}: no such file, folder or URL")
    names: dict[str, int] = {}
    sources = []
    for ref in dict.fromkeys(refs):  # each document once, in order
        stem = Path(ref.split("?", 1)[0].rstrip("/")).stem or "document"
        names[stem] = names.get(stem, 0) + 1
        sources.append(Source(ref, stem if names[stem] == 1 else f"{stem}-{names[stem]}"))
    if not sources:
        raise UsageError("nothing to parse: no documents found in " + " ".join(inputs))
    return sources


def page_count(path: str) -> int:
    """Pages of a local document, as the service will count them: PDF pages, TIFF frames, else one image."""
    suffix = Path(path).suffix.lower()
    if suffix == ".pdf":
        document = pdfium.PdfDocument(path)
        try:
            return len(document)
        finally:
            document.close()
    if suffix in (".tif", ".tiff"):
        with Image.open(path) as image:
            return getattr(image, "n_frames", 1)
    return 1


def read_options(options_json: str | None, settings: Sequence[str]) -> dict[str, Any]:
    """`--options '{"visualize": false}'` with each `--set key=value` laid over it (values read as JSON where they
    are JSON: `true`, `0.5`, `[1]`; otherwise as text), checked by the client as a request's fields."""
    try:
        options = json.loads(options_json) if options_json else {}
    except json.JSONDecodeError as exc:
        raise UsageError(f"--options is not JSON: {exc}") from None
    if not isinstance(options, dict):
        raise UsageError("--options must be a JSON object")
    for setting in settings:
        key, equals, text = setting.partition("=")
        if not equals or not key:
            raise UsageError(f"--set {setting!r}: expected key=value")
        try:
            options[key] = json.loads(text)
        except json.JSONDecodeError:
            options[key] = text
    try:
        wire_options(options)
    except OcrvlError as exc:
        raise UsageError(str(exc)) from None
    return options


class DocumentWriter:
    """Writes one document's outputs under `OUT/<name>/`, pages as they come and the whole at the end."""

    def __init__(self, client: Client, folder: Path, name: str) -> None:
        self._client = client
        self.folder = folder
        self._name = name

    def page(self, page: Page) -> None:
        self._client.save_markdown(page.result, self.folder, f"page_{page.index}.md")
        for kind, value in (page.result.outputImages or {}).items():
            (self.folder / f"{kind}_{page.index}.jpg").write_bytes(self._client.file(value))

    def finish(self, pages: list[LayoutParsingResult], data_info: Any) -> None:
        """The document's Markdown, then its result: written last, it marks the document complete."""
        markdown = PAGE_SEPARATOR.join(page.markdown.text for page in pages)
        (self.folder / f"{self._name}.md").write_text(markdown, encoding="utf-8")
        result = {"layoutParsingResults": [page.model_dump(mode="json", exclude_unset=True) for page in pages],
                  "dataInfo": data_info}
        partial = self.folder / (RESULT_FILE + ".partial")
        partial.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
        partial.replace(self.folder / RESULT_FILE)


@dataclass(frozen=True)
class RunSettings:
    out: Path
    options: dict[str, Any]
    job_pages: int
    model: str
    force: bool


class Runner:
    """Parses the sources, `concurrency` at a time, showing progress; stops taking new documents once the service
    is unreachable or refuses the token, since every other document would fail the same way."""

    def __init__(self, client: Client, settings: RunSettings, progress: Progress) -> None:
        self._client = client
        self._settings = settings
        self._progress = progress
        self._abort = threading.Event()

    @property
    def aborted(self) -> bool:
        return self._abort.is_set()

    def run(self, sources: list[Source], concurrency: int) -> list[Outcome]:
        files = self._progress.add_task("documents", total=len(sources))

        def one(source: Source) -> Outcome:
            outcome = self._document(source)
            self._progress.advance(files)
            return outcome

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(one, sources))

    def _document(self, source: Source) -> Outcome:
        folder = self._settings.out / source.name
        if not self._settings.force and (folder / RESULT_FILE).is_file():
            return Outcome(source, skipped=True)
        if self._abort.is_set():
            return Outcome(source, error="not tried: the service was unreachable or refused the token")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / RESULT_FILE).unlink(missing_ok=True)
        task = self._progress.add_task(source.name, total=None)
        started = time.monotonic()
        outcome = Outcome(source)
        try:
            writer = DocumentWriter(self._client, folder, source.name)
            pages = None if source.is_url else self._local_pages(source.ref)
            if pages is None or pages > self._settings.job_pages:
                outcome.pages = self._by_job(source, writer, task)
            else:
                outcome.pages = self._synchronously(source, writer, task, pages)
        except (AuthError, ConnectionFailedError) as exc:
            self._abort.set()
            outcome.error = str(exc)
        except (OcrvlError, OSError) as exc:
            outcome.error = str(exc)
        outcome.seconds = time.monotonic() - started
        self._progress.remove_task(task)
        return outcome

    @staticmethod
    def _local_pages(path: str) -> int:
        try:
            return page_count(path)
        except (pdfium.PdfiumError, UnidentifiedImageError):
            return 1  # not readable here: one synchronous call, and the service says what is wrong with it

    def _synchronously(self, source: Source, writer: DocumentWriter, task: TaskID, pages: int) -> int:
        self._progress.update(task, total=pages)
        result = self._client.parse(source.ref, **self._settings.options)
        for index, page in enumerate(result.layoutParsingResults):
            writer.page(Page(index, page))
            self._progress.advance(task)
        writer.finish(result.layoutParsingResults, result.model_dump(mode="json", exclude_unset=True)["dataInfo"])
        return len(result.layoutParsingResults)

    def _by_job(self, source: Source, writer: DocumentWriter, task: TaskID) -> int:
        """Submits the document as a job and writes its pages as they are done; a job that ends with pages
        missing is a failure (its other pages stay written, and the next run submits it again)."""
        job_id = self._client.submit(source.ref, model=self._settings.model, **self._settings.options)
        after = 0
        while True:
            answer = self._client.job_pages(job_id, after)
            self._progress.update(task, total=answer.totalPages or None)
            for entry in answer.pages:
                if entry.result is not None:
                    writer.page(Page(entry.pageIndex, LayoutParsingResult.model_validate(
                        entry.result["layoutParsingResults"][0])))
                self._progress.advance(task)
            after = answer.next
            if answer.state in ("done", "failed") and not answer.pages:
                break
            time.sleep(0 if answer.pages else JOB_POLL_INTERVAL_S)
        status = self._client.job(job_id)
        if status.state != "done" or status.resultUrl is None:
            raise JobFailedError(job_id, status.errorMsg or f"the job ended {status.state}")
        if status.failedPages:
            failed = "; ".join(f"page {p.pageIndex + 1}: {p.errorMsg}" for p in status.failedPages)
            raise JobFailedError(job_id, f"{len(status.failedPages)} pages failed ({failed})")
        lines = [json.loads(line) for line in self._client.file(status.resultUrl.jsonUrl).decode().splitlines()
                 if line.strip()]
        pages = [LayoutParsingResult.model_validate(line["result"]["layoutParsingResults"][0]) for line in lines]
        if wire_options(self._settings.options).get("restructurePages"):
            # Restructured across pages at the end: the pages written as they came are not the final ones.
            for line, page in zip(lines, pages, strict=True):
                writer.page(Page(line["pageIndex"], page))
        writer.finish(pages, lines[0]["result"].get("dataInfo") if lines else None)
        return len(pages)


def summary(outcomes: list[Outcome], seconds: float) -> Table:
    table = Table(title="ocrvl parse")
    for column in ("document", "status", "pages", "seconds", "error"):
        table.add_column(column)
    for o in outcomes:
        status = "skipped (done before)" if o.skipped else ("failed" if o.error else "done")
        table.add_row(o.source.name, status, str(o.pages), f"{o.seconds:.1f}", o.error or "")
    parsed = [o for o in outcomes if not o.skipped and not o.error]
    pages = sum(o.pages for o in parsed)
    failed = sum(1 for o in outcomes if o.error)
    table.caption = (f"{len(parsed)} parsed, {sum(o.skipped for o in outcomes)} skipped, {failed} failed; "
                     f"{pages} pages in {seconds:.1f} s ({pages / seconds if seconds else 0:.2f} pages/s)")
    return table


def exit_status(outcomes: Iterable[Outcome], aborted: bool) -> int:
    if aborted:
        return EXIT_UNREACHABLE
    return EXIT_FAILED if any(o.error for o in outcomes) else EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files, folders, globs or http(s) URLs")
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--server", default=os.environ.get(SERVER_ENV, DEFAULT_BASE_URL),
                        help=f"the service's base URL (default: ${SERVER_ENV} or %(default)s)")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV), help=f"API key (default: ${TOKEN_ENV})")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="documents at once")
    parser.add_argument("--options", help="request fields as a JSON object, e.g. '{\"visualize\": false}'")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="one request field (JSON value or text), over --options; repeatable")
    parser.add_argument("--job-pages", type=int, default=DEFAULT_JOB_PAGES,
                        help="documents with more pages go through the Job API (default: %(default)s)")
    parser.add_argument("--model", default=DEFAULT_JOB_MODEL, help="the Job API's model name")
    parser.add_argument("--retries", type=int, default=DEFAULT_RETRIES,
                        help="tries again after 429/503 (waiting Retry-After) or a lost connection")
    parser.add_argument("--force", action="store_true", help="parse documents again whose outputs are complete")


def run(args: argparse.Namespace) -> int:
    errors = Console(stderr=True)
    try:
        sources = collect_sources(args.paths)
        options = read_options(args.options, args.settings)
        if args.concurrency < 1 or args.job_pages < 0 or args.retries < 0:
            raise UsageError("--concurrency must be at least 1, --job-pages and --retries at least 0")
    except UsageError as exc:
        print(f"ocrvl parse: {exc}", file=sys.stderr)
        return EXIT_USAGE
    settings = RunSettings(args.out, options, args.job_pages, args.model, args.force)
    started = time.monotonic()
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=errors, transient=True)
    with Client(args.server, args.token, retries=RetryPolicy(retries=args.retries)) as client, progress:
        runner = Runner(client, settings, progress)
        outcomes = runner.run(sources, args.concurrency)
    Console().print(summary(outcomes, time.monotonic() - started))
    for outcome in outcomes:
        if outcome.error:
            print(f"ocrvl parse: {outcome.source.ref}: {outcome.error}", file=sys.stderr)
    return exit_status(outcomes, runner.aborted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ocrvl parse", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
