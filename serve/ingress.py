"""HTTP ingress: a thin FastAPI layer over the pipeline, the stages reached through deployment handles.

No `from __future__ import annotations` here: FastAPI reads the route signatures at runtime through Ray's
class-based ingress wrapper, which cannot resolve string annotations.
"""


import asyncio
import math
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from ray import serve
from ray.serve.handle import DeploymentHandle

from layout.decode import InputError
from serve.admission import Admission, AdmissionMiddleware
from serve.auth import CLIENT_ID, ApiKeys, AuthMiddleware
from serve.backends import RECOGNITION_BACKENDS, backend_class
from serve.body_limit import BodyLimitMiddleware
from serve.config import DeadlineConfig, ServiceConfig
from serve.errors import DeadlineExceeded, install_error_handlers, new_log_id
from serve.health import STAGES, readiness_problems, stage_replicas
from serve.metrics import HttpMetricsMiddleware, IngressMetrics
from serve.pipeline import DocumentPipeline, ParseOptions, load_file, unhonored_fields
from serve.protocol import Envelope, ErrorResponse, LayoutParsingRequest, LayoutParsingResponse, Readiness, ReadinessResponse
from serve.quotas import QuotaMiddleware, Quotas
from serve.stage_calls import HandleLayoutClient, HandleRecognitionClient

UNHONORED_HEADER = "X-Unhonored-Fields"
# Seconds this request may take, below the server's maximum (`deadline.max_s`).
TIMEOUT_HEADER = "X-Request-Timeout"
PARSE_PATH = "/layout-parsing"
ENDPOINTS = frozenset({PARSE_PATH, "/health", "/health/ready"})
# Open without an API key: probes must not need one, and the API's description is public anyway.
PUBLIC_PATHS = frozenset({"/health", "/health/ready", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
# Where a request's page-quota headers wait for its response, in Starlette's request.state.
PAGE_USAGE = "page_usage"
# The Ingress deployment's `user_config` key that stops admission (graceful shutdown).
DRAINING = "draining"

app = FastAPI(
    title="PaddleOCR-VL layout parsing",
    description="`POST /layout-parsing` as PaddleX 3.7.2's serving app defines it, served by Ray Serve.",
    version="0.1.0",
)
install_error_handlers(app)
# Each added one wraps the ones before: metrics see everything; auth names the client before its quota is counted;
# neither lets a refused request take an admission slot.
app.add_middleware(AdmissionMiddleware, paths=frozenset({PARSE_PATH}))
app.add_middleware(QuotaMiddleware, public_paths=PUBLIC_PATHS)
app.add_middleware(AuthMiddleware, public_paths=PUBLIC_PATHS)
app.add_middleware(BodyLimitMiddleware)
app.add_middleware(HttpMetricsMiddleware)
ERROR_RESPONSES = {status: {"model": ErrorResponse} for status in (400, 401, 403, 413, 422, 429, 500, 503, 504)}


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
@serve.ingress(app)
class Ingress:
    def __init__(self, layout: DeploymentHandle, recognition: DeploymentHandle, config: dict) -> None:
        self._config = ServiceConfig.model_validate(config)
        self._capabilities = backend_class(RECOGNITION_BACKENDS, self._config.recognition.backend).capabilities
        self._metrics = IngressMetrics(ENDPOINTS)
        app.state.metrics = self._metrics
        app.state.max_request_bytes = self._config.input.request_body_limit()
        auth = self._config.auth
        app.state.api_keys = ApiKeys.load(auth.keys_env, auth.keys_file) if auth.enabled else None
        admission = self._config.admission
        app.state.admission = Admission(admission.max_requests_in_flight, admission.retry_after_s)
        self._quotas = Quotas(self._config.quotas, admission.retry_after_s) if self._config.quotas.enabled else None
        app.state.quotas = self._quotas
        retries = self._config.pipeline.stage_retries
        self._pipeline = DocumentPipeline(
            self._config,
            HandleLayoutClient(layout, retries, self._metrics),
            HandleRecognitionClient(recognition, retries, self._metrics),
        )
        self._app_name = serve.get_replica_context().app_name

    def reconfigure(self, user_config: dict) -> None:
        """Ray Serve's live update of every replica; `ocrvl serve` sets `draining` on shutdown (serve/cli.py)."""
        app.state.admission.draining = bool(user_config.get(DRAINING))

    @app.post(
        PARSE_PATH,
        operation_id="infer",
        response_model=LayoutParsingResponse,
        responses=ERROR_RESPONSES,
    )
    async def infer(self, body: LayoutParsingRequest, request: Request) -> JSONResponse:
        log_id = body.logId or new_log_id()
        request.state.log_id = log_id
        deadline = request_deadline(request.headers.get(TIMEOUT_HEADER), self._config.deadline)
        options = ParseOptions.from_request(body, self._config, self._capabilities)
        try:
            # Expiry cancels every page task, and with them the stage calls they await: Ray Serve cancels the
            # call in the replica, and the VL backends abort their engine requests.
            async with asyncio.timeout(deadline) as scope:
                data, name_hint = await load_file(body, self._config)
                result = await self._pipeline.parse(
                    data, body.fileType, name_hint, options, admit_pages=self._page_quota(request)
                )
        except TimeoutError as exc:
            if not scope.expired():
                raise
            raise DeadlineExceeded(f"Deadline of {deadline:g} s exceeded; the request was cancelled") from exc
        self._metrics.parsed(result["layoutParsingResults"])
        unhonored = unhonored_fields(body, self._capabilities)
        headers = dict(getattr(request.state, PAGE_USAGE, {}))
        if unhonored:
            headers[UNHONORED_HEADER] = ",".join(unhonored)
        content = {"logId": log_id, "errorCode": 0, "errorMsg": "Success", "result": result}
        return JSONResponse(content=content, headers=headers)

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

    @app.get("/health", operation_id="checkHealth", response_model=Envelope)
    async def health(self) -> dict:
        """Liveness: this replica answers."""
        return {"logId": new_log_id(), "errorCode": 0, "errorMsg": "Healthy"}

    @app.get("/health/ready", operation_id="checkReadiness", response_model=ReadinessResponse,
             responses={503: {"model": ReadinessResponse}})
    async def ready(self) -> JSONResponse:
        """Readiness: every stage has a running replica with its models loaded (serve/health.py)."""
        status = await asyncio.to_thread(serve.status)
        application = status.applications.get(self._app_name)
        stages = stage_replicas(application.deployments if application else {}, STAGES)
        problems = readiness_problems(stages)
        code, message = (503, "Not ready: " + "; ".join(problems)) if problems else (0, "Ready")
        answer = ReadinessResponse(logId=new_log_id(), errorCode=code, errorMsg=message, result=Readiness(stages=stages))
        return JSONResponse(answer.model_dump(), status_code=code or 200)
