"""The ingress's HTTP app, built from the service's config: routes, error envelope and middlewares.

Every middleware is handed what it needs when the app is built, so none of them can find its dependency
missing at request time and quietly step aside. Auth and quotas are installed exactly when the config turns
them on; with auth on, keys that cannot be loaded fail the build, and with it the replica's start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from redis.exceptions import RedisError

from serve.admission import Admission, AdmissionMiddleware
from serve.auth import ApiKeys, AuthMiddleware
from serve.body_limit import BodyLimitMiddleware
from serve.config import ServiceConfig
from serve.errors import bad_request, install_error_handlers, retry_later
from serve.jobs.submission import JobRequestError
from serve.metrics import HttpMetricsMiddleware, IngressMetrics
from serve.protocol import (
    BatchStatusResponse,
    Envelope,
    ErrorResponse,
    JobCreatedResponse,
    JobPagesResponse,
    JobStatusResponse,
    LayoutParsingResponse,
    ReadinessResponse,
    RestructurePagesResponse,
)
from serve.quotas import QuotaMiddleware, Quotas
from serve.storage import ResultStore
from serve.storage.filesystem import FILES_PATH, FilesystemStore
from serve.storage.http import files_router

PARSE_PATH = "/layout-parsing"
RESTRUCTURE_PATH = "/restructure-pages"
JOBS_PATH = "/api/v2/ocr/jobs"
HEALTH_PATH = "/health"
READINESS_PATH = "/health/ready"
ENDPOINTS = frozenset({PARSE_PATH, RESTRUCTURE_PATH, JOBS_PATH, HEALTH_PATH, READINESS_PATH})
# The try-a-document page: static files shipped in the package (no build step), `index.html` at `/`.
WEB_DIR = Path(__file__).parent / "web"
WEB_PATH = "/web"


@dataclass(frozen=True)
class PathSet:
    """Request paths: these exactly, or under one of these prefixes."""

    exact: frozenset[str]
    prefixes: tuple[str, ...] = ()

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and (path in self.exact or path.startswith(self.prefixes))


# Open without an API key: probes must not need one, the API's description is public anyway, and a stored file's
# signed URL is its own credential (clients GET it as they got it, with no headers, as from S3). The web page holds
# no secret: the API calls it makes carry the key typed into it.
PUBLIC_PATHS = PathSet(
    frozenset({HEALTH_PATH, READINESS_PATH, "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/"}),
    (FILES_PATH + "/", WEB_PATH + "/"),
)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 413, 422, 429, 500, 503, 504)
}
JOB_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 413, 429, 500, 503)
}


class Routes(Protocol):
    """What answers the app's endpoints: the Ingress replica."""

    infer: Callable[..., Awaitable[Any]]
    restructure_pages: Callable[..., Awaitable[Any]]
    submit_job: Callable[..., Awaitable[Any]]
    job_status: Callable[..., Awaitable[Any]]
    cancel_job: Callable[..., Awaitable[Any]]
    job_pages: Callable[..., Awaitable[Any]]
    batch_status: Callable[..., Awaitable[Any]]
    health: Callable[..., Awaitable[Any]]
    ready: Callable[..., Awaitable[Any]]


def needs_store(config: ServiceConfig) -> bool:
    """Responses carry URLs, or jobs keep their files and results: either way a result store is built."""
    return config.output.images == "url" or config.jobs.enabled


def install_job_routes(app: FastAPI, routes: Routes, retry_after_s: int) -> None:
    """The Job API; the batch route comes first, or `/batch/…` would be read as a job id."""
    app.post(JOBS_PATH, operation_id="submitJob", response_model=JobCreatedResponse,
             responses=JOB_ERROR_RESPONSES)(routes.submit_job)
    app.get(JOBS_PATH + "/batch/{batch_id}", operation_id="getBatch", response_model=BatchStatusResponse,
            response_model_exclude_unset=True, responses=JOB_ERROR_RESPONSES)(routes.batch_status)
    app.get(JOBS_PATH + "/{job_id}", operation_id="getJob", response_model=JobStatusResponse,
            response_model_exclude_unset=True, responses=JOB_ERROR_RESPONSES)(routes.job_status)
    app.get(JOBS_PATH + "/{job_id}/pages", operation_id="getJobPages", response_model=JobPagesResponse,
            response_model_exclude_unset=True, responses=JOB_ERROR_RESPONSES)(routes.job_pages)
    app.delete(JOBS_PATH + "/{job_id}", operation_id="cancelJob", response_model=JobStatusResponse,
               response_model_exclude_unset=True, responses=JOB_ERROR_RESPONSES)(routes.cancel_job)
    app.add_exception_handler(JobRequestError, bad_request)
    # Job state lives in Redis: while it is unreachable (restarting, failing over) clients are told to come back.
    app.add_exception_handler(RedisError, retry_later(retry_after_s, "The job store is unavailable; retry later"))


def build_http_app(
    config: ServiceConfig, routes: Routes, metrics: IngressMetrics, admission: Admission, quotas: Quotas | None,
    store: ResultStore | None,
) -> FastAPI:
    if config.quotas.enabled != (quotas is not None):
        raise ValueError("quotas are on in the config exactly when a quota store is given")
    if needs_store(config) != (store is not None):
        raise ValueError("a result store is given exactly when responses carry URLs or jobs are on")
    app = FastAPI(
        title="PaddleOCR-VL layout parsing",
        description="`POST /layout-parsing` as PaddleX 3.7.2's serving app defines it, served by Ray Serve.",
        version="0.1.0",
    )
    install_error_handlers(app, config.admission.retry_after_s)
    # Unset optional fields are parts of the result that do not apply to this page: upstream leaves them out.
    app.post(PARSE_PATH, operation_id="infer", response_model=LayoutParsingResponse, response_model_exclude_unset=True,
             responses=ERROR_RESPONSES)(routes.infer)
    app.post(RESTRUCTURE_PATH, operation_id="restructurePages", response_model=RestructurePagesResponse,
             response_model_exclude_unset=True, responses=ERROR_RESPONSES)(routes.restructure_pages)
    if isinstance(store, FilesystemStore):
        app.include_router(files_router(store))
    if config.jobs.enabled:
        install_job_routes(app, routes, config.admission.retry_after_s)
    # Outside the API description, and counted as "other" in the metrics: not endpoints, a client of them.
    app.get("/", include_in_schema=False)(lambda: FileResponse(WEB_DIR / "index.html"))
    app.mount(WEB_PATH, StaticFiles(directory=WEB_DIR), name="web")
    app.get(HEALTH_PATH, operation_id="checkHealth", response_model=Envelope)(routes.health)
    app.get(READINESS_PATH, operation_id="checkReadiness", response_model=ReadinessResponse,
            responses={503: {"model": ReadinessResponse}})(routes.ready)
    # Each added one wraps the ones before: metrics see everything; auth names the client before its quota is
    # counted; neither lets a refused request take an admission slot.
    app.add_middleware(AdmissionMiddleware, admission=admission, paths=frozenset({PARSE_PATH, RESTRUCTURE_PATH}))
    if quotas is not None:
        app.add_middleware(QuotaMiddleware, quotas=quotas, public_paths=PUBLIC_PATHS)
    if config.auth.enabled:
        keys = ApiKeys.load(config.auth.keys_env, config.auth.keys_file)
        app.add_middleware(AuthMiddleware, keys=keys, public_paths=PUBLIC_PATHS)
    app.add_middleware(BodyLimitMiddleware, limit=config.input.request_body_limit())
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    return app
