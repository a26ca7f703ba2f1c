"""The service's own Prometheus metrics, one class per deployment that records them.

They are `ray.serve.metrics` objects, not prometheus-client ones: every replica, on whichever node it runs,
reports them to its node's Ray metrics agent, which exports them (prefixed `ray_`, tagged with `application`,
`deployment` and `replica`) on the node's metrics port beside Ray Serve's own `ray_serve_*` metrics and
vLLM's `ray_vllm_*`. A prometheus-client registry inside a replica would be invisible to a scrape through
the load balancer, which reaches one replica at a time. docs/operations.md lists every name.

The objects only work inside a Ray worker, so the deployments create them in their constructors.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families
from ray.serve.metrics import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

from serve.backends.base import PageRecognition
from serve.protocol import LayoutParsingResult

# Request and per-page stage latencies span a cached one-line image (tens of ms) to a long PDF on CPU
# (minutes); the request deadline caps them at 15 minutes.
SECONDS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300, 600, 900]
BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64]

HTTP_IN_FLIGHT = "ocrvl_http_requests_in_flight"
# Ray's agent exports application metrics under this prefix.
RAY_PREFIX = "ray_"
OTHER_ENDPOINT = "other"
CLIENT_CLOSED_REQUEST = 499
LAYOUT = "layout"
RECOGNITION = "recognition"


class LiveGauge:
    """A gauge whose series are reported to Ray every `REFRESH_S`, changed or not.

    Ray reports a gauge only when it is set, and its metrics agent forgets a series not reported within two
    report intervals (ray/_private/telemetry/open_telemetry_metric_recorder.py): an in-flight count that stays
    at 3 for a minute would vanish from /metrics and from the dashboards. Changes only update the value here:
    calling Ray's `Gauge.set` on every change of a per-page count was ~7% of a recognition replica's CPU samples
    under load, and the agent exports at most once per report interval anyway."""

    REFRESH_S = 1.0

    def __init__(self, name: str, description: str, tag_keys: tuple[str, ...] = ()) -> None:
        self._gauge = Gauge(name, description=description, tag_keys=tag_keys)
        self._values: dict[tuple[tuple[str, str], ...], float] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._refresh_forever, name=f"refresh-{name}", daemon=True).start()

    def set(self, value: float, **tags: str) -> None:
        with self._lock:
            self._values[tuple(sorted(tags.items()))] = value

    def add(self, change: float, **tags: str) -> None:
        key = tuple(sorted(tags.items()))
        with self._lock:
            self._values[key] = self._values.get(key, 0) + change

    def _refresh_forever(self) -> None:
        while True:
            time.sleep(self.REFRESH_S)
            with self._lock:
                values = list(self._values.items())
            for key, value in values:
                self._gauge.set(value, tags=dict(key))


class IngressMetrics:
    def __init__(self, endpoints: frozenset[str]) -> None:
        # Paths outside the API count as "other", so a scanner probing random URLs cannot blow up the series.
        self.endpoints = endpoints
        self.requests = Counter(
            "ocrvl_http_requests_total", description="HTTP requests answered, by endpoint and status code.",
            tag_keys=("endpoint", "status"),
        )
        self.request_duration = Histogram(
            "ocrvl_http_request_duration_seconds", description="Time to answer an HTTP request, by endpoint.",
            boundaries=SECONDS_BUCKETS, tag_keys=("endpoint",),
        )
        self.in_flight = LiveGauge(
            HTTP_IN_FLIGHT, description="Requests being answered by this ingress replica.", tag_keys=("endpoint",)
        )
        self.pages = Counter("ocrvl_pages_total", description="Pages parsed and returned.")
        self.blocks = Counter(
            "ocrvl_blocks_total", description="Layout blocks returned, by label.", tag_keys=("label",)
        )
        self.stage_duration = Histogram(
            "ocrvl_stage_duration_seconds",
            description="Time one page spends in a stage as the ingress sees it: queueing, transfer and work.",
            boundaries=SECONDS_BUCKETS, tag_keys=("stage",),
        )
        self.stage_retries = Counter(
            "ocrvl_stage_retries_total", description="Pages sent to a stage again because its replica died.",
            tag_keys=("stage",),
        )

    @contextmanager
    def timed_stage(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stage_duration.observe(time.perf_counter() - started, tags={"stage": stage})

    def parsed(self, pages: list[LayoutParsingResult]) -> None:
        if not pages:
            return
        self.pages.inc(len(pages))
        # One record per label, not per block: each record is a call into Ray's metrics.
        labels = collections.Counter(
            block.block_label for page in pages for block in page.prunedResult.parsing_res_list
        )
        for label, count in labels.items():
            self.blocks.inc(count, tags={"label": label})


class PageCacheMetrics:
    """The page cache's (serve/page_cache.py), recorded by the ingress replicas that look pages up."""

    def __init__(self) -> None:
        self.lookups = Counter(
            "ocrvl_page_cache_total",
            description="Page cache lookups and stores by result: hit, miss, stored, too_large, error.",
            tag_keys=("result",),
        )

    def count(self, result: str) -> None:
        self.lookups.inc(tags={"result": result})


class JobMetrics:
    """The Job API's, recorded by the ingress replicas that take and run jobs (serve/jobs/)."""

    def __init__(self) -> None:
        self.submitted = Counter("ocrvl_jobs_submitted_total", description="Jobs accepted.")
        self.ended = Counter(
            "ocrvl_jobs_ended_total", description="Jobs ended, by state (done, failed; cancelled ones are failed).",
            tag_keys=("state",),
        )
        self.working_units = LiveGauge(
            "ocrvl_job_units_running",
            description="Units of job work (page ranges, mostly) this ingress replica is working on.",
        )
        self.pages = Counter(
            "ocrvl_job_pages_total", description="Job pages recorded, by outcome (done, failed).",
            tag_keys=("outcome",),
        )
        self.takeovers = Counter(
            "ocrvl_job_lease_takeovers_total",
            description="Units of job work taken over from a replica whose lease lapsed (it died or stalled).",
        )
        # Every replica reads the same shared queue: take the max over replicas, not the sum.
        self.queued = LiveGauge(
            "ocrvl_job_units_queued", description="Units of job work waiting for a replica, as this replica saw it."
        )
        self.queue_wait = Histogram(
            "ocrvl_job_queue_wait_seconds", description="Time from a job's submission to its start.",
            boundaries=SECONDS_BUCKETS,
        )

    @contextmanager
    def working(self) -> Iterator[None]:
        self.working_units.add(1)
        try:
            yield
        finally:
            self.working_units.add(-1)

    def waited(self, created_at: str, started_at: str) -> None:
        """A job started: how long it queued (both times ISO 8601, as the job's record has them)."""
        waited = datetime.fromisoformat(started_at) - datetime.fromisoformat(created_at)
        self.queue_wait.observe(max(waited.total_seconds(), 0.0))


def _stage_in_flight() -> LiveGauge:
    """Pages inside one stage replica, recorded by the replica itself, so the sum over replicas is exact."""
    return LiveGauge(
        "ocrvl_stage_pages_in_flight", description="Pages inside a stage replica, waiting or being worked on.",
        tag_keys=("stage",),
    )


class LayoutMetrics:
    def __init__(self) -> None:
        self.in_flight = _stage_in_flight()
        self.waiting = LiveGauge(
            "ocrvl_layout_pages_waiting", description="Pages in a layout replica waiting for a batch to run in."
        )
        self.batch_size = Histogram(
            "ocrvl_layout_batch_size", description="Pages per layout model call.", boundaries=BATCH_SIZE_BUCKETS
        )


class RecognitionMetrics:
    def __init__(self) -> None:
        self.in_flight = _stage_in_flight()
        self.vl_calls = Counter(
            "ocrvl_vl_calls_total", description="VLM requests made, by task (ocr, table, formula, ...).",
            tag_keys=("task",),
        )
        self.vl_tokens = Counter(
            "ocrvl_vl_tokens_total", description="VLM tokens, prompt (incl. image) and generated.",
            tag_keys=("kind",),
        )

        self.regions = Counter(
            "ocrvl_regions_read_total",
            description="Regions read, by where their text came from: the PDF's text layer or the engine (OCR, VLM).",
            tag_keys=("source",),
        )

    def read(self, recognized: PageRecognition) -> None:
        for source, count in (("text_layer", recognized.from_text_layer), ("engine", recognized.from_engine)):
            if count:
                self.regions.inc(count, tags={"source": source})
        usage = recognized.usage
        if usage is None:
            return
        for task, calls in usage.calls_by_task.items():
            self.vl_calls.inc(calls, tags={"task": task})
        for kind, tokens in (("prompt", usage.prompt_tokens), ("generated", usage.generated_tokens)):
            if tokens:
                self.vl_tokens.inc(tokens, tags={"kind": kind})


def scrape_sum(url: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus endpoint's samples called `name` whose labels include `labels` (0 if none)."""
    families = text_string_to_metric_families(httpx.get(url, timeout=10).text)
    return sum(
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


class HttpMetricsMiddleware:
    """ASGI middleware recording every request's endpoint, status and duration in `metrics`; outermost, so it
    also sees requests that admission turned away and errors that never reached a route."""

    def __init__(self, app: ASGIApp, metrics: IngressMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = self.metrics
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = scope["path"] if scope["path"] in metrics.endpoints else OTHER_ENDPOINT
        tags = {"endpoint": endpoint}
        # A request that ends without a response was cancelled because its client went away (crashes still get a
        # 500 from Starlette): nginx's 499, "client closed request".
        status = CLIENT_CLOSED_REQUEST

        async def send_noting_status(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics.in_flight.add(+1, endpoint=endpoint)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            metrics.request_duration.observe(time.perf_counter() - started, tags=tags)
            metrics.requests.inc(tags={**tags, "status": str(status)})
            metrics.in_flight.add(-1, endpoint=endpoint)
