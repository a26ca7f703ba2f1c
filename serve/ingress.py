"""HTTP ingress: the Ingress deployment, a thin layer over the pipeline, the stages reached through deployment
handles. Its HTTP app (routes, envelope, middlewares) is built per replica from the config (serve/http_app.py).

No `from __future__ import annotations` here: FastAPI reads the route signatures of these methods at runtime.
"""


import asyncio
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from typing import Annotated

import ray
from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from ray import serve
from ray.serve.handle import DeploymentHandle

from layout.decode import Document, InputError, data_info
from serve.admission import Admission
from serve.auth import CLIENT_ID
from serve.backends import RECOGNITION_BACKENDS, backend_class
from serve.config import DeadlineConfig, ServiceConfig
from serve.delivery import Delivery, InlineDelivery, StoredDelivery
from serve.errors import DeadlineExceeded, new_log_id, streamed_failure
from serve.health import STAGES, readiness_problems, stage_reasons, stage_replicas
from serve.http_app import ENDPOINTS, build_http_app, needs_store
from serve.jobs.records import JobRecords
from serve.jobs.runner import JobRunner
from serve.jobs.service import JobService
from serve.jobs.webhooks import WebhookSender
from serve.metrics import IngressMetrics, JobMetrics, PageCacheMetrics
from serve.page_cache import PageCache
from serve.pipeline import DocumentPipeline, ParseOptions, load_file, unhonored_fields
from serve.protocol import (
    BatchStatusResponse,
    Envelope,
    JobCreatedResponse,
    JobPagesResponse,
    JobStatusResponse,
    LayoutParsingRequest,
    LayoutParsingResponse,
    Readiness,
    ReadinessResponse,
    RestructurePagesRequest,
    RestructurePagesResponse,
)
from serve.quotas import Quotas
from serve.restructuring import ImageSource, restructure
from serve.stage_calls import HandleLayoutClient, HandleRecognitionClient
from serve.storage import build_store
from serve.sweeper import Sweeper

UNHONORED_HEADER = "X-Unhonored-Fields"
# Asked for in `Accept`: the answer streams one JSON line per page (Ingress._stream).
NDJSON = "application/x-ndjson"
# Seconds this request may take, below the server's maximum (`deadline.max_s`).
TIMEOUT_HEADER = "X-Request-Timeout"
# Where a request's page-quota headers wait for its response, in Starlette's request.state.
PAGE_USAGE = "page_usage"
# The Ingress deployment's `user_config` key that stops admission (graceful shutdown).
DRAINING = "draining"


@asynccontextmanager
async def within(seconds: float) -> AsyncIterator[None]:
    """Runs the block under the request's deadline; past it, the block is cancelled and DeadlineExceeded raised."""
    try:
        async with asyncio.timeout(seconds) as scope:
            yield
    except TimeoutError as exc:
        if not scope.expired():
            raise
        raise DeadlineExceeded(f"Deadline of {seconds:g} s exceeded; the request was cancelled") from exc


def _ndjson_line(value: dict) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode() + b"\n"


def request_deadline(header: str | None, config: DeadlineConfig) -> float:
    """Seconds the request may take: the header's value, capped by the server's maximum, or the default."""
    if header is None:
        return config.default_s
    try:
        seconds = float(header)
    except ValueError:
        seconds = float("nan")
    if not (seconds > 0 and math.isfinite(seconds)):
        raise InputError(f"{TIMEOUT_HEADER} must be a positive number of seconds, got {header!r}")
    return min(seconds, config.max_s)


@serve.deployment(name="Ingress")
# The app is built per replica, from its config (`__serve_build_asgi_app__`), not at import.
@serve.ingress()
class Ingress:
    def __init__(self, layout: DeploymentHandle, recognition: DeploymentHandle, config: dict) -> None:
        self._config = ServiceConfig.model_validate(config)
        self._capabilities = backend_class(RECOGNITION_BACKENDS, self._config.recognition.backend).capabilities
        self._metrics = IngressMetrics(ENDPOINTS)
        admission = self._config.admission
        self._admission = Admission(admission.max_requests_in_flight, admission.retry_after_s)
        self._quotas = Quotas(self._config.quotas, admission.retry_after_s) if self._config.quotas.enabled else None
        retries = self._config.pipeline.stage_retries
        self._pipeline = DocumentPipeline(
            self._config,
            HandleLayoutClient(layout, retries, self._metrics),
            HandleRecognitionClient(recognition, retries, self._metrics),
            PageCache(self._config, PageCacheMetrics()) if self._config.page_cache.enabled else None,
            share_page=ray.put,
        )
        self._app_name = serve.get_replica_context().app_name
        self._store = build_store(self._config.storage) if needs_store(self._config) else None
        self._sweeper = Sweeper(self._store, self._config.storage.sweep_interval_s) if self._store else None
        self._image_source = ImageSource(
            self._store, self._config.input.url_fetch.policy(self._config.input.max_file_bytes)
        )
        self._jobs: JobService | None = None
        self._runner: JobRunner | None = None
        if self._config.jobs.enabled and self._store is not None:
            records = JobRecords(self._config.jobs)
            webhooks = WebhookSender(self._config.jobs.webhooks) if self._config.jobs.webhooks.enabled else None
            job_metrics = JobMetrics()
            self._jobs = JobService(self._config, records, self._store, self._capabilities, webhooks, job_metrics)
            self._runner = JobRunner(
                self._config, records, self._store, self._pipeline, self._capabilities, self._image_source,
                self._quotas, webhooks, job_metrics,
            )

    def __serve_build_asgi_app__(self) -> FastAPI:
        return build_http_app(self._config, self, self._metrics, self._admission, self._quotas, self._store)

    async def check_health(self) -> None:
        """Ray Serve calls this on every replica every few seconds, requests or not: it (re)starts the replica's
        background loops, so a replica that never gets a request still runs jobs and sweeps expired files, and no
        request pays for the check."""
        if self._sweeper is not None:
            self._sweeper.ensure_running()
        if self._runner is not None:
            self._runner.ensure_running()

    def _delivery(self, request: Request, client_log_id: str | None, log_id: str) -> Delivery:
        """Inline Base64, or the result store under `<logId>/…`. A logId the client chose is not used as the key
        prefix: another client could choose the same one and overwrite this response's files."""
        if self._store is None or self._config.output.images != "url":
            return InlineDelivery()
        prefix = new_log_id() if client_log_id else log_id
        base_url = self._config.storage.public_base_url or str(request.base_url)
        return StoredDelivery(self._store, prefix, base_url.rstrip("/"))

    def reconfigure(self, user_config: dict) -> None:
        """Ray Serve's live update of every replica; `ocrvl serve` sets `draining` on shutdown (serve/cli.py)."""
        self._admission.draining = bool(user_config.get(DRAINING))

    async def infer(
        self, body: LayoutParsingRequest, request: Request, response: Response
    ) -> LayoutParsingResponse | StreamingResponse:
        log_id = body.logId or new_log_id()
        request.state.log_id = log_id
        deadline = request_deadline(request.headers.get(TIMEOUT_HEADER), self._config.deadline)
        client = getattr(request.state, CLIENT_ID, None)
        options = ParseOptions.from_request(body, self._config, self._capabilities, client)
        delivery = self._delivery(request, body.logId, log_id)
        headers: dict[str, str] = {}
        unhonored = unhonored_fields(body, self._capabilities)
        if unhonored:
            headers[UNHONORED_HEADER] = ",".join(unhonored)
        if NDJSON in request.headers.get("accept", ""):
            return await self._stream(body, request, options, delivery, log_id, deadline, headers)
        # Expiry cancels every page task, and with them the stage calls they await: Ray Serve cancels the call in
        # the replica, and the VL backends abort their engine requests.
        async with within(deadline):
            data, name_hint = await load_file(body, self._config)
            result = await self._pipeline.parse(
                data, body.fileType, name_hint, options, delivery, admit_pages=self._page_quota(request)
            )
        self._metrics.parsed(result.layoutParsingResults)
        response.headers.update({**getattr(request.state, PAGE_USAGE, {}), **headers})
        return LayoutParsingResponse(logId=log_id, errorCode=0, errorMsg="Success", result=result)

    async def _stream(
        self, body: LayoutParsingRequest, request: Request, options: ParseOptions, delivery: Delivery, log_id: str,
        deadline: float, headers: dict[str, str],
    ) -> StreamingResponse:
        """`Accept: application/x-ndjson`: one line per page as soon as it is written (`pageIndex`, `result`), in
        the order pages finish, then one line with the envelope: `result.dataInfo` on success, the error otherwise.
        Everything that can be refused before the first page (the file, its type, the page limit and quota) still
        is, with its own status."""
        expires = asyncio.get_running_loop().time() + deadline
        async with within(deadline):
            data, name_hint = await load_file(body, self._config)
            document = await self._pipeline.open(data, body.fileType, name_hint)
        try:
            admit = self._page_quota(request)
            if admit is not None:
                await admit(document.num_pages)
        except BaseException:
            document.close()
            raise
        lines = self._lines(document, options, delivery, log_id, expires - asyncio.get_running_loop().time())
        return StreamingResponse(lines, media_type=NDJSON,
                                 headers={**getattr(request.state, PAGE_USAGE, {}), **headers})

    async def _lines(
        self, document: Document, options: ParseOptions, delivery: Delivery, log_id: str, deadline: float
    ) -> AsyncIterator[bytes]:
        try:
            try:
                results = self._pipeline.page_results(document, options, delivery)
                async with within(deadline), aclosing(results) as pages:
                    async for index, page in pages:
                        self._metrics.parsed([page])
                        result = page.model_dump(mode="json", exclude_unset=True)
                        yield _ndjson_line({"pageIndex": index, "result": result})
                last = Envelope(logId=log_id).model_dump() | {"result": {"dataInfo": data_info(document)}}
            except Exception as exc:  # the answer has begun: the failure becomes its last line, never a lost stream
                last = streamed_failure(exc, log_id)
            yield _ndjson_line(last)
        finally:
            document.close()

    async def restructure_pages(
        self, body: RestructurePagesRequest, request: Request
    ) -> RestructurePagesResponse:
        log_id = body.logId or new_log_id()
        request.state.log_id = log_id
        result = await restructure(body, self._delivery(request, body.logId, log_id), self._image_source)
        return RestructurePagesResponse(logId=log_id, errorCode=0, errorMsg="Success", result=result)

    async def submit_job(self, request: Request) -> JobCreatedResponse:
        jobs = self._job_service()
        created = await jobs.submit(request, getattr(request.state, CLIENT_ID, None))
        return JobCreatedResponse(logId=new_log_id(), data=created)

    async def job_status(self, job_id: str, request: Request) -> JobStatusResponse:
        status = await self._job_service().status(job_id, getattr(request.state, CLIENT_ID, None))
        return JobStatusResponse(logId=new_log_id(), data=status)

    async def job_pages(
        self, job_id: str, request: Request, after: Annotated[int, Query(ge=0)] = 0
    ) -> JobPagesResponse:
        """Extension: the job's pages done so far, in its order, from position `after` on."""
        pages = await self._job_service().pages(job_id, getattr(request.state, CLIENT_ID, None), after)
        return JobPagesResponse(logId=new_log_id(), data=pages)

    async def cancel_job(self, job_id: str, request: Request) -> JobStatusResponse:
        status = await self._job_service().cancel(job_id, getattr(request.state, CLIENT_ID, None))
        return JobStatusResponse(logId=new_log_id(), data=status)

    async def batch_status(self, batch_id: str, request: Request) -> BatchStatusResponse:
        status = await self._job_service().batch(batch_id, getattr(request.state, CLIENT_ID, None))
        return BatchStatusResponse(logId=new_log_id(), data=status)

    def _job_service(self) -> JobService:
        # The routes exist only when jobs are on (serve/http_app.py), and then so does the service.
        assert self._jobs is not None
        return self._jobs

    def _page_quota(self, request: Request) -> Callable[[int], Awaitable[None]] | None:
        client = getattr(request.state, CLIENT_ID, None)
        if self._quotas is None or client is None:
            return None
        quotas = self._quotas

        async def admit(pages: int) -> None:
            usage = await quotas.count_pages(client, pages)
            if usage is not None:
                setattr(request.state, PAGE_USAGE, usage.headers())

        return admit

    async def health(self) -> dict:
        """Liveness: this replica answers."""
        return {"logId": new_log_id(), "errorCode": 0, "errorMsg": "Healthy"}

    async def ready(self) -> JSONResponse:
        """Readiness: every stage has a running replica with its models loaded (serve/health.py)."""
        status = await asyncio.to_thread(serve.status)
        application = status.applications.get(self._app_name)
        deployments = application.deployments if application else {}
        stages = stage_replicas(deployments, STAGES)
        problems = readiness_problems(stages, stage_reasons(deployments, STAGES))
        code, message = (503, "Not ready: " + "; ".join(problems)) if problems else (0, "Ready")
        answer = ReadinessResponse(logId=new_log_id(), errorCode=code, errorMsg=message,
                                   result=Readiness(stages=stages))
        return JSONResponse(answer.model_dump(), status_code=code or 200)
