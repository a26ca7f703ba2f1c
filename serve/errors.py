"""Every failure leaves the service in the contract's envelope (spec §3.1–3.2): `errorCode` = HTTP status."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from ray.serve.exceptions import BackPressureError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from layout.decode import InputError

logger = logging.getLogger("ocrvl")

INTERNAL_ERROR_MESSAGE = "Internal server error"


def new_log_id() -> str:
    return str(uuid.uuid4())


class DeadlineExceeded(Exception):
    """The request's deadline passed; its work has been cancelled."""


class StageUnavailable(Exception):
    """A stage could not finish a page: its replica died past the retries, or its backend is down."""


class QuotaExceeded(Exception):
    """A client's quota is used up; `headers` say how far and until when (serve/quotas.py)."""

    def __init__(self, message: str, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.headers = headers


class QuotaUnavailable(Exception):
    """The quota store is unreachable and the policy is to deny."""


def envelope(status: int, message: str, log_id: str | None = None) -> dict[str, Any]:
    return {"logId": log_id or new_log_id(), "errorCode": status, "errorMsg": message}


def error_response(
    status: int, message: str, log_id: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(status_code=status, content=envelope(status, message, log_id), headers=headers)


async def send_error(send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    """Answers an ASGI request with an error envelope, for middleware that refuses before any route runs."""
    body = json.dumps(envelope(status, message)).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _log_id_of(body: Any) -> str | None:
    # Upstream (3.4+) echoes the request's logId on errors too, when the body could be parsed.
    if isinstance(body, dict) and isinstance(body.get("logId"), str):
        return body["logId"]
    return None


def _validation_message(exc: RequestValidationError) -> str:
    # Upstream 3.4+ format: a JSON-encoded list of {type, loc: "body.topP", msg}.
    errors = [{"type": e["type"], "loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    return json.dumps(errors, ensure_ascii=False)


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(422, _validation_message(exc), _log_id_of(exc.body))


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


async def _on_input_error(request: Request, exc: InputError) -> JSONResponse:
    return error_response(422, str(exc), getattr(request.state, "log_id", None))


async def bad_request(request: Request, exc: Exception) -> JSONResponse:
    """400 with the reason: the Job API's answer to a submission it refuses (its clients expect 400, not 422)."""
    return error_response(400, str(exc))


async def _on_deadline_exceeded(request: Request, exc: DeadlineExceeded) -> JSONResponse:
    return error_response(504, str(exc), getattr(request.state, "log_id", None))


def retry_later(
    retry_after_s: int, message: str | None = None
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    """A handler answering with a 503 that tells the client when to come back: the service is degraded or full
    for now, not broken. The message is `message`, or the exception's own."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return error_response(503, message or str(exc), getattr(request.state, "log_id", None),
                              headers={"Retry-After": str(retry_after_s)})

    return handler


async def _on_quota_exceeded(request: Request, exc: QuotaExceeded) -> JSONResponse:
    return error_response(429, str(exc), getattr(request.state, "log_id", None), headers=exc.headers)


async def _on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log_id = getattr(request.state, "log_id", None) or new_log_id()
    logger.exception("request %s failed", log_id)
    return error_response(500, INTERNAL_ERROR_MESSAGE, log_id)


# What a failure after a streamed answer began is reported as, in its last line: the status the handlers below
# give the same failure before an answer begins.
STREAMED_FAILURE_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (InputError, 422),
    (DeadlineExceeded, 504),
    (StageUnavailable, 503),
    (BackPressureError, 503),
)


def streamed_failure(exc: Exception, log_id: str) -> dict[str, Any]:
    """The envelope that ends a streamed answer cut short by `exc`; unexpected failures are logged, and reported
    as upstream reports them."""
    for kind, status in STREAMED_FAILURE_STATUS:
        if isinstance(exc, kind):
            return envelope(status, str(exc), log_id)
    logger.error("request %s failed while streaming", log_id, exc_info=exc)
    return envelope(500, INTERNAL_ERROR_MESSAGE, log_id)


def install_error_handlers(app: FastAPI, retry_after_s: int) -> None:
    """Every failure in the envelope; `retry_after_s` is what 503s tell clients."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(InputError, _on_input_error)
    app.add_exception_handler(DeadlineExceeded, _on_deadline_exceeded)
    # A stage's bounded queue is full: the service is over capacity right now, not broken.
    app.add_exception_handler(BackPressureError, retry_later(retry_after_s, "Service over capacity; retry later"))
    temporarily_unavailable = retry_later(retry_after_s)
    app.add_exception_handler(StageUnavailable, temporarily_unavailable)
    app.add_exception_handler(QuotaUnavailable, temporarily_unavailable)
    app.add_exception_handler(QuotaExceeded, _on_quota_exceeded)
    app.add_exception_handler(Exception, _on_unexpected_error)
