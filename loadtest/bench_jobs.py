"""A many-page PDF as one job against the same pages as synchronous requests: pages/s, first page, ingress RSS.

    .venv/bin/python -m loadtest.bench jobs                # starts configs/local.yaml itself
    .venv/bin/python -m loadtest.bench jobs --pages 300

One service, four runs one after another, all in one run so the figures are comparable on a shared, noisy machine:

1. sync: the N pages as N single-page PDFs to `POST /layout-parsing`, as many in flight as one job's pages
   (`pipeline.pages_in_flight_per_request`); pages/s and the time to the first answer;
2. one job: the same N pages as one PDF uploaded to `POST /api/v2/ocr/jobs`, its status polled until it is done
   (every 0.2 s until its first page, then every second: polls cost the service CPU);
   pages/s from submit to done, the time from submit to the first page extracted (and to the last: the rest is
   writing the result), and the ratio to sync;
3. four jobs at once, N/4 pages each: each job's pages/s from its submit to its end, and the slowest job's against
   the fastest's (a fair share is 1.0); each job's first and last page show when it actually ran;
4. throughout, the ingress replicas' RSS sampled every second: min, max and last of each run, and its growth from
   the run's start to its end (flat means the job holds a bounded number of pages, whatever its length).

Every page is the same light page (a title and four lines of text, numbered), so the figures measure the two paths,
not the documents. The service runs its config as given (results in a temporary directory); `--workers-per-replica`
overrides `jobs.workers_per_replica` (configs/local.yaml: 1, one unit of job work per ingress replica at a time, so
jobs submitted together take turns at the stages rather than run side by side).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import io
import json
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import httpx
import numpy as np
import yaml
from PIL import Image

from loadtest.bench import benchmark_parser
from loadtest.processes import rss_bytes, server_pid, session_of, session_processes
from loadtest.runs import closed_point
from loadtest.service import REPO, merge, running_service
from loadtest.table import Column, format_table
from serve.config import ServiceConfig

JOBS_PATH = "/api/v2/ocr/jobs"
# The official client's default model; every PaddleOCR-VL name runs the one configured pipeline.
MODEL = "PaddleOCR-VL-1.6"
# Both paths get the same request fields. Visualisation off: the comparison is of how pages travel, not of drawing
# them (which costs the same on both paths).
PAGE_OPTIONS = {"visualize": False}
PDF_FILE_TYPE = 0
# The document. Its pages are light but not empty (an empty page skips both stages, a dense real page 5-10 s;
# this one ~0.4 s of the service's throughput at 4 in flight), so the whole run, 3 x 300 pages and the service's
# start, takes 6-10 minutes on the 2-core development machine.
DEFAULT_PAGES = 300
CONCURRENT_JOBS = 4
# Page geometry: a US-letter page at 144 dpi, which the service's render scale of 2.0 turns back into these pixels.
PAGE_WIDTH_PX, PAGE_HEIGHT_PX = 850, 1100
PAGE_DPI = 144
WHITE, BLACK = 255, 0
# The title, then TEXT_LINES lines of body text below it: sizes as in the service tests' synthetic report.
TITLE_ORIGIN = (120, 140)
TITLE_SCALE = 1.3
BODY_LEFT_PX, BODY_TOP_PX, LINE_HEIGHT_PX = 100, 240, 34
BODY_SCALE = 0.8
STROKE_PX = 2
TEXT_LINES = 4
WORDS = "the quick brown fox jumps over the lazy dog and keeps running".split()
WORDS_PER_LINE = 9
# A job's status is polled every FIRST_PAGE_POLL_S until its first page (which is known to that resolution), then
# every POLL_S. A poll costs ~12 ms of CPU in Ray's proxy and the ingress (measured here): five a second would take
# ~4% of this machine from the job being measured, and four jobs polled so ~10%.
FIRST_PAGE_POLL_S = 0.2
POLL_S = 1.0
RSS_INTERVAL_S = 1.0
# A job of hundreds of pages on two cores takes many minutes; anything past this is stuck.
JOB_TIMEOUT_S = 3600
# A page takes seconds here, dense ones ~10 s: minutes without a page extracted anywhere is a stuck run.
STALL_TIMEOUT_S = 180
HTTP_TIMEOUT_S = 120
MIB = 1024 * 1024
INGRESS_DEPLOYMENT = "Ingress"
INGRESS_TITLE = f"ray::ServeReplica:ocrvl:{INGRESS_DEPLOYMENT}"


# --- the pages -------------------------------------------------------------------------------------------------


def page_image(number: int) -> np.ndarray:
    """One light page (grey-scale): a numbered title and TEXT_LINES lines of text."""
    page = np.full((PAGE_HEIGHT_PX, PAGE_WIDTH_PX), WHITE, np.uint8)
    cv2.putText(page, f"Page {number}: a short note", TITLE_ORIGIN, cv2.FONT_HERSHEY_DUPLEX, TITLE_SCALE, BLACK,
                STROKE_PX)
    for line in range(TEXT_LINES):
        text = " ".join(WORDS[line % len(WORDS):][:WORDS_PER_LINE])
        origin = (BODY_LEFT_PX, BODY_TOP_PX + LINE_HEIGHT_PX * line)
        cv2.putText(page, text, origin, cv2.FONT_HERSHEY_SIMPLEX, BODY_SCALE, BLACK, STROKE_PX)
    return page


def pdf_of(pages: Sequence[np.ndarray]) -> bytes:
    """A PDF of `pages`, one picture each. Bilevel pictures keep 300 pages near 1 MB (grey JPEGs would be 10)."""
    images = [Image.fromarray(page).convert("1") for page in pages]
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", save_all=True, append_images=images[1:], resolution=PAGE_DPI)
    return buffer.getvalue()


# --- the ingress's memory ----------------------------------------------------------------------------------------


@dataclass
class RssSampler:
    """Samples the summed RSS of the service's ingress replicas every RSS_INTERVAL_S on a thread of its own, so a
    busy event loop in the benchmark cannot skip samples."""

    url: str
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def ingress_pids(self) -> list[int]:
        session = session_of(server_pid(self.url))
        return [pid for pid, name in session_processes(session).items() if name == INGRESS_TITLE]

    def _run(self) -> None:
        pids = self.ingress_pids()
        while not self._stop.is_set():
            sizes = [rss_bytes(pid) for pid in pids]
            if None in sizes or not pids:  # a replica restarted: look again, skip this sample
                pids = self.ingress_pids()
            else:
                self.samples.append((time.perf_counter(), sum(sizes)))
            self._stop.wait(RSS_INTERVAL_S)

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def window(self, start: float, end: float) -> RssWindow:
        inside = [size for at, size in self.samples if start <= at <= end]
        if not inside:
            return RssWindow(None, None, None, None)
        return RssWindow(min(inside) / MIB, max(inside) / MIB, inside[-1] / MIB, (inside[-1] - inside[0]) / MIB)


@dataclass(frozen=True)
class RssWindow:
    """The ingress's RSS over one run, MiB; growth is the last sample less the first."""

    min_mib: float | None
    max_mib: float | None
    last_mib: float | None
    growth_mib: float | None


# --- the runs ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    name: str
    pages: int
    # Pages in flight at most; None where a run's jobs share a bound (one job of several).
    in_flight: int | None
    started: float
    first_page: float
    # When the last page was read: for a job, its end less writing its result (and any wait for a turn to).
    last_page: float
    ended: float

    @property
    def wall_s(self) -> float:
        return self.ended - self.started

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.wall_s

    @property
    def first_page_s(self) -> float:
        return self.first_page - self.started

    @property
    def last_page_s(self) -> float:
        return self.last_page - self.started


def run_sync(url: str, pdfs: Sequence[bytes], in_flight: int) -> Measured:
    """Every single-page PDF once to `/layout-parsing` from `in_flight` clients (closed loop), after `in_flight`
    unmeasured ones."""
    payloads = [{"file": base64.b64encode(pdf).decode(), "fileType": PDF_FILE_TYPE, **PAGE_OPTIONS} for pdf in pdfs]
    point = closed_point(f"{url}/layout-parsing", payloads, in_flight, warm_up_requests=in_flight)
    failed = [sample.kind for sample in point.samples if not sample.ok]
    if failed:
        raise RuntimeError(f"sync: {len(failed)} requests failed ({', '.join(sorted(set(failed)))})")
    # The point's clock starts after the warm-up: place its samples on ours.
    ended = time.perf_counter()
    point_start = ended - point.wall_s
    answered = [sample.sent_s + sample.latency_s for sample in point.samples]
    return Measured("sync: single-page requests", len(pdfs), in_flight, point_start, point_start + min(answered),
                    point_start + max(answered), ended)


async def submit(client: httpx.AsyncClient, pdf: bytes, name: str) -> str:
    """Uploads `pdf` as a job (multipart, as the official client's upload does) and returns its id."""
    answer = await client.post(JOBS_PATH, files={"file": (name, pdf, "application/pdf")},
                               data={"model": MODEL, "optionalPayload": json.dumps(PAGE_OPTIONS)})
    answer.raise_for_status()
    return answer.json()["data"]["jobId"]


@dataclass
class Stall:
    """When any of the jobs of one run last moved (changed state or extracted a page). Jobs queued behind others do
    not move for minutes, but some job of the run always does; none moving for STALL_TIMEOUT_S means no replica is
    running them (a runner that died, say), and the run fails then instead of polling for JOB_TIMEOUT_S."""

    last_moved: float = field(default_factory=time.perf_counter)

    def check(self, name: str, job_id: str, status: dict) -> None:
        if time.perf_counter() - self.last_moved > STALL_TIMEOUT_S:
            raise RuntimeError(f"{name}: no job of this run has moved for {STALL_TIMEOUT_S} s; job {job_id} is "
                               f"{status['state']} with {status['extractProgress']} (see the service's log)")


async def follow_job(client: httpx.AsyncClient, job_id: str, started: float, pages: int, name: str,
                     in_flight: int | None, first_page_poll_s: float, stall: Stall) -> Measured:
    """A job submitted at `started`, polled every `first_page_poll_s` until its first page, then every POLL_S until
    it is done; its result is fetched and checked to hold one line per page."""
    first_page = last_page = None
    seen = None
    while time.perf_counter() < started + JOB_TIMEOUT_S:
        answer = await client.get(f"{JOBS_PATH}/{job_id}")
        answer.raise_for_status()
        status = answer.json()["data"]
        now = time.perf_counter()
        extracted = status["extractProgress"]["extractedPages"]
        if (status["state"], extracted) != seen:
            seen, stall.last_moved = (status["state"], extracted), now
        if first_page is None and extracted >= 1:
            first_page = now
        if last_page is None and extracted >= pages:
            last_page = now
        if status["state"] == "failed":
            raise RuntimeError(f"{name}: job {job_id} failed: {status.get('errorMsg')}")
        if status["state"] == "done":
            await check_result(client, status["resultUrl"]["jsonUrl"], pages, name)
            # A job done between two polls has its first page by then too.
            return Measured(name, pages, in_flight, started, first_page or now, last_page or now, now)
        stall.check(name, job_id, status)
        await asyncio.sleep(first_page_poll_s if first_page is None else POLL_S)
    raise TimeoutError(f"{name}: job {job_id} not done after {JOB_TIMEOUT_S} s")


async def check_result(client: httpx.AsyncClient, json_url: str, pages: int, name: str) -> None:
    lines = (await client.get(json_url)).raise_for_status().text.splitlines()
    read = [line for line in lines if json.loads(line)["result"]["layoutParsingResults"]]
    if len(read) != pages:
        raise RuntimeError(f"{name}: the result holds {len(read)} pages, not {pages}")


async def run_jobs(url: str, pdfs: Sequence[bytes], pages_each: int, in_flight: int | None,
                   first_page_poll_s: float = FIRST_PAGE_POLL_S) -> list[Measured]:
    """The jobs submitted together, one after another so that job n is the n-th the service sees (submitting takes
    milliseconds), then each polled until it is done."""
    async with httpx.AsyncClient(base_url=url, timeout=HTTP_TIMEOUT_S) as client:
        submitted = []
        for number, pdf in enumerate(pdfs, start=1):
            name = f"job {number} of {len(pdfs)}"
            started = time.perf_counter()
            submitted.append((name, started, await submit(client, pdf, f"{name}.pdf")))
        stall = Stall()
        return list(await asyncio.gather(*(
            follow_job(client, job_id, started, pages_each, name, in_flight, first_page_poll_s, stall)
            for name, started, job_id in submitted
        )))


# --- the table ---------------------------------------------------------------------------------------------------


COLUMNS = [
    Column("run", align="<"), Column("pages"), Column("in flight"), Column("wall s", "{:.1f}"),
    Column("pages/s", "{:.3f}"), Column("first page s", "{:.1f}"), Column("last page s", "{:.1f}"),
    Column("pages/s vs sync", "{:.2f}x"),
    Column("vs fastest job", "{:.2f}x"), Column("RSS min MiB", "{:.0f}"), Column("RSS max MiB", "{:.0f}"),
    Column("RSS last MiB", "{:.0f}"), Column("RSS growth MiB", "{:+.0f}"),
]


def row(run: Measured, sync: Measured, rss: RssWindow | None, vs_fastest: float | None = None) -> tuple:
    memory = (rss.min_mib, rss.max_mib, rss.last_mib, rss.growth_mib) if rss else (None,) * 4
    return (run.name, run.pages, run.in_flight, run.wall_s, run.pages_per_s, run.first_page_s, run.last_page_s,
            run.pages_per_s / sync.pages_per_s, vs_fastest, *memory)


def table(sync: Measured, job: Measured, jobs: list[Measured], jobs_in_flight: int, sampler: RssSampler) -> str:
    together = Measured(f"{len(jobs)} jobs at once, together", sum(j.pages for j in jobs), jobs_in_flight,
                        min(j.started for j in jobs), min(j.first_page for j in jobs), max(j.last_page for j in jobs),
                        max(j.ended for j in jobs))
    rates = [j.pages_per_s for j in jobs]
    rows = [
        row(sync, sync, sampler.window(sync.started, sync.ended)),
        row(job, sync, sampler.window(job.started, job.ended)),
        # The together row's "vs fastest job" is the slowest job's share: min/max of the jobs' pages/s.
        row(together, sync, sampler.window(together.started, together.ended), min(rates) / max(rates)),
        *(row(j, sync, None, j.pages_per_s / max(rates)) for j in jobs),
    ]
    return format_table(COLUMNS, rows)


def job_slots(raw: dict, args: dict) -> int:
    """Units of job work the service runs at once: workers per ingress replica times the ingress replicas."""
    application = raw["applications"][0]
    [ingress] = [d for d in application.get("deployments", []) if d["name"] == INGRESS_DEPLOYMENT] or [{}]
    return ServiceConfig.model_validate(args).jobs.workers_per_replica * ingress.get("num_replicas", 1)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__name__, __doc__)
    parser.add_argument("--pages", type=int, default=DEFAULT_PAGES,
                        help=f"pages of the one job and of the sync run; the {CONCURRENT_JOBS} jobs get a share each")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "local.yaml")
    parser.add_argument("--workers-per-replica", type=int,
                        help="override jobs.workers_per_replica (units of job work per ingress replica at once)")
    args = parser.parse_args(argv)
    if args.pages < CONCURRENT_JOBS:
        parser.error(f"--pages must be at least {CONCURRENT_JOBS}")

    images = [page_image(number) for number in range(1, args.pages + 1)]
    singles = [pdf_of([image]) for image in images]
    whole = pdf_of(images)
    pages_each = args.pages // CONCURRENT_JOBS
    shares = [pdf_of(images[i * pages_each:(i + 1) * pages_each]) for i in range(CONCURRENT_JOBS)]

    with tempfile.TemporaryDirectory() as workdir:
        # Results in the run's own directory, not the machine's shared one; they go with it.
        overrides: dict = {"storage": {"filesystem": {"root": f"{workdir}/results"}}}
        if args.workers_per_replica is not None:
            overrides["jobs"] = {"workers_per_replica": args.workers_per_replica}
        raw = yaml.safe_load(args.config.read_text())
        service_args = merge(copy.deepcopy(raw["applications"][0]["args"]), overrides)
        in_flight = ServiceConfig.model_validate(service_args).pipeline.pages_in_flight_per_request
        slots = job_slots(raw, service_args)
        with running_service(Path(workdir), args.config, overrides) as url, RssSampler(url) as sampler:
            # Unmeasured: the job path's first job (the runner's first Redis calls and store writes).
            asyncio.run(run_jobs(url, [pdf_of(images[:1])], 1, in_flight))
            sync = run_sync(url, singles, in_flight)
            # One job's page ranges may run on several slots at once.
            [job] = asyncio.run(run_jobs(url, [whole], args.pages, in_flight * slots))
            job = replace(job, name="one job (upload)")
            # Queued jobs wait tens of seconds for their first page: polling them fast would only load the service.
            jobs = asyncio.run(run_jobs(url, shares, pages_each, None, first_page_poll_s=POLL_S))
    print(table(sync, job, jobs, in_flight * min(slots, CONCURRENT_JOBS), sampler))
    return 0
