"""A typed Python client of this service: `Client` (blocking) and `AsyncClient` (asyncio), with the same methods.

    with Client("http://127.0.0.1:8080") as client:
        for n, page in enumerate(client.parse("report.pdf").layoutParsingResults):
            client.save_markdown(page, f"out/page_{n}")

Requests and answers are the wire models of `serve.protocol`. Every failure is an `OcrvlError` of the class its
cause calls for, whichever method met it, with the server's own `errorMsg` as its message. This module imports
neither Ray nor any server module but the contract, so it installs and imports light on any client machine
(docs/client.md).
"""

from __future__ import annotations

import asyncio
import base64
import difflib
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from serve.protocol import (
    JobCreatedResponse,
    JobPages,
    JobPagesResponse,
    JobStatus,
    JobStatusResponse,
    LayoutParsingRequest,
    LayoutParsingResult,
    LayoutParsingResultSet,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
# Seconds a call may wait for its answer. A parse sends it as its deadline too (`X-Request-Timeout`), so the
# server stops working on a document as soon as the client stops waiting for it; 600 s is the server's own default.
DEFAULT_TIMEOUT_S = 600.0
# A server that does not accept a connection within this is down or unreachable, however long a parse may take.
CONNECT_TIMEOUT_S = 10.0
# Waited past a parse's deadline, so that the server's 504, which says what was cut short, arrives before our own
# timeout fires.
DEADLINE_GRACE_S = 10.0
DEFAULT_RETRIES = 3
# The official client's default model; any name in the server's `jobs.models` runs its one pipeline.
DEFAULT_JOB_MODEL = "PaddleOCR-VL-1.6"
DEFAULT_POLL_INTERVAL_S = 2.0
DEFAULT_WAIT_TIMEOUT_S = 3600.0
# What `save_markdown` names a page's Markdown, beside its `imgs/…` pictures.
MARKDOWN_FILE = "page.md"

# The server's paths and headers. Written out here rather than imported: the modules that define them
# (serve/http_app.py, serve/ingress.py, serve/jobs/service.py) import the server's whole stack, Ray included;
# tests/unit/test_client.py checks that the two agree.
PARSE_PATH = "/layout-parsing"
JOBS_PATH = "/api/v2/ocr/jobs"
NDJSON = "application/x-ndjson"
TIMEOUT_HEADER = "X-Request-Timeout"
IDEMPOTENCY_HEADER = "Idempotency-Key"

Source = str | os.PathLike[str] | bytes
"""A document: a local path, its bytes, or an http(s) URL the server fetches itself."""


@dataclass(frozen=True)
class RetryPolicy:
    """When a refused or failed call is sent again: on 429 and 503 (the server says to come back) and when the
    server could not be reached, at most `retries` times; never on any other status."""

    retries: int = DEFAULT_RETRIES
    # Doubling waits from `backoff_s`, at most `max_backoff_s`, when the server names no `Retry-After`.
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    # A `Retry-After` beyond this is not waited for: the error is raised instead, as a caller would rather know.
    max_retry_after_s: float = 60.0

    def delay_s(self, attempt: int, error: OcrvlError) -> float | None:
        """Seconds to wait before sending again after `error` on try `attempt` (0 for the first), or None when the
        error is final."""
        retried = RateLimitedError | UnavailableError | ConnectionFailedError
        if attempt >= self.retries or not isinstance(error, retried):
            return None
        if error.retry_after_s is None:
            return min(self.backoff_s * 2**attempt, self.max_backoff_s)
        return error.retry_after_s if error.retry_after_s <= self.max_retry_after_s else None


class OcrvlError(Exception):
    """A call that failed. `status` is the HTTP status (or the `errorCode` that ended a streamed answer), None where
    no answer came; `message` is the server's `errorMsg`; `log_id` names the request in the server's logs."""

    def __init__(self, status: int | None, message: str, log_id: str | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.log_id = log_id
        # What the server's `Retry-After` asked for, if it sent one.
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        context = [f"HTTP {self.status}"] if self.status is not None else []
        context += [f"logId {self.log_id}"] if self.log_id else []
        return f"{self.message} ({', '.join(context)})" if context else self.message


class AuthError(OcrvlError):
    """No valid API key (401), or a key that may not have this (403)."""


class InvalidRequestError(OcrvlError):
    """The request or its document was refused as it is (400, 413, 422), or an option failed the contract's checks
    before anything was sent (no status). Sending it again changes nothing."""


class NotFoundError(OcrvlError):
    """No such job (or not this client's), or a result file that has expired (404)."""


class RateLimitedError(OcrvlError):
    """Over a quota or the server's capacity (429); `retry_after_s` says when to come back."""


class UnavailableError(OcrvlError):
    """The service is draining, or a stage or its store is down (503); `retry_after_s` says when to come back."""


class DeadlineError(OcrvlError):
    """The request's deadline passed and the server cancelled its work (504), or no answer came in time (no
    status), or a job did not end within `wait`'s timeout."""


class ServerError(OcrvlError):
    """A failure of the server (500, any other status), or an answer this client cannot read."""


class ConnectionFailedError(OcrvlError):
    """The server could not be reached, or the connection broke before the answer was whole (no status)."""


class JobFailedError(OcrvlError):
    """The job ended `failed`; the message is its `errorMsg`."""

    def __init__(self, job_id: str, message: str) -> None:
        super().__init__(None, message)
        self.job_id = job_id


_ERRORS_BY_STATUS: dict[int, type[OcrvlError]] = {
    400: InvalidRequestError, 401: AuthError, 403: AuthError, 404: NotFoundError, 413: InvalidRequestError,
    422: InvalidRequestError, 429: RateLimitedError, 503: UnavailableError, 504: DeadlineError,
}


def error_for(status: int, message: str, log_id: str | None = None, retry_after_s: float | None = None) -> OcrvlError:
    """The error a status (or a streamed answer's final `errorCode`) stands for."""
    return _ERRORS_BY_STATUS.get(status, ServerError)(status, message, log_id, retry_after_s)


def error_from_response(response: httpx.Response) -> OcrvlError:
    """The error of a refused call, from its envelope; an answer not in the envelope (a proxy in front, say) by its
    text or status line."""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("errorMsg"), str):
        message, log_id = body["errorMsg"], body.get("logId")
    else:
        message, log_id = response.text.strip()[:500] or response.reason_phrase, None
    return error_for(response.status_code, message, log_id, _retry_after_s(response.headers.get("Retry-After")))


def _retry_after_s(value: str | None) -> float | None:
    """`Retry-After` in seconds: either form HTTP allows (delta seconds, or a date)."""
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max((parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def _transport_error(exc: httpx.TransportError, url: httpx.URL) -> OcrvlError:
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return DeadlineError(None, f"No answer from {url} in time ({type(exc).__name__})")
    return ConnectionFailedError(None, f"Cannot reach {url}: {str(exc) or type(exc).__name__}")


def _may_resend(exc: httpx.TransportError, idempotent: bool) -> bool:
    # A call that never connected never reached the server; any other may have, and only an idempotent one can be
    # sent twice without doing its work twice.
    return idempotent or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)


# Options: the `/layout-parsing` fields but `file`, by their wire name or its snake_case form.
def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_OPTION_FIELDS = [name for name in LayoutParsingRequest.model_fields if name != "file"]
_OPTION_NAMES = {**{_snake_case(name): name for name in _OPTION_FIELDS}, **{name: name for name in _OPTION_FIELDS}}
# Stands in for the document while the options alone are checked against the request model.
_NO_FILE = "-"


def wire_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options as the request's JSON fields, checked as the server checks them, so that a misspelt name or a
    value out of range is an InvalidRequestError before anything is sent."""
    fields: dict[str, Any] = {}
    for name, value in options.items():
        field = _OPTION_NAMES.get(name)
        if field is None:
            close = difflib.get_close_matches(name, list(_OPTION_NAMES), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InvalidRequestError(None, f"Unknown option {name!r}{hint}")
        if field in fields:
            raise InvalidRequestError(None, f"Option {field!r} given twice")
        fields[field] = value
    try:
        request = LayoutParsingRequest.model_validate({**fields, "file": _NO_FILE})
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors()]
        raise InvalidRequestError(None, "; ".join(problems)) from None
    return request.model_dump(mode="json", include=set(fields))


@dataclass(frozen=True)
class Document:
    """A source as the server takes it: a URL it fetches, or bytes with the name to upload them under. The server
    finds the file type from the bytes (or the URL's extension), so none is sent unless `fileType` is an option."""

    url: str | None = None
    data: bytes | None = None
    name: str = "document"

    @classmethod
    def of(cls, source: Source) -> Document:
        if isinstance(source, bytes):
            return cls(data=source)
        if isinstance(source, str) and source.startswith(("http://", "https://")):
            return cls(url=source)
        path = Path(source)
        return cls(data=path.read_bytes(), name=path.name)

    def as_file_field(self) -> str:
        """`file` of a `/layout-parsing` body: the URL, or the bytes in Base64."""
        return self.url if self.url is not None else base64.b64encode(self.data or b"").decode()


@dataclass(frozen=True)
class Page:
    """One page's result, `index` counting the document's pages from 0."""

    index: int
    result: LayoutParsingResult


M = TypeVar("M", bound=BaseModel)


def _model(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ServerError(None, f"Unexpected answer from the server for {model.__name__}: {exc}") from None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ServerError(response.status_code, f"The answer is not JSON: {response.text[:200]!r}") from None


def _streamed_line(line: str) -> Page | None:
    """A streamed answer's line: a page, or None for the envelope that ends a complete answer. The envelope of an
    answer cut short is raised as its error."""
    try:
        value = json.loads(line)
    except ValueError:
        raise ServerError(None, f"A streamed line is not JSON: {line[:200]!r}") from None
    if "pageIndex" in value:
        return Page(value["pageIndex"], _model(LayoutParsingResult, value["result"]))
    if value.get("errorCode", 0) != 0:
        raise error_for(value["errorCode"], value.get("errorMsg", ""), value.get("logId"))
    return None


def _result_pages(jsonl: str) -> list[Page]:
    """A job's result (JSON Lines, one `{pageIndex, result: {layoutParsingResults: [page]}}` per page)."""
    lines = [json.loads(line) for line in jsonl.splitlines() if line.strip()]
    return [Page(line["pageIndex"], _model(LayoutParsingResultSet, line["result"]).layoutParsingResults[0])
            for line in lines]


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def _markdown_targets(result: LayoutParsingResult, directory: str | os.PathLike[str]) -> dict[Path, str]:
    """Where each of the page's Markdown pictures goes under `directory`, at the relative path its Markdown links
    to. A name that would land outside `directory` is refused: the names come from the server."""
    root = Path(directory).resolve()
    targets = {}
    for name, value in (result.markdown.images or {}).items():
        target = (root / name).resolve()
        if not target.is_relative_to(root):
            raise ServerError(None, f"Markdown image {name!r} would be written outside {root}")
        targets[target] = value
    return targets


class _Base:
    """What both clients hold and how they shape requests; sending is theirs."""

    def __init__(self, base_url: str, token: str | None, timeout: float, retries: int | RetryPolicy) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry_policy = retries if isinstance(retries, RetryPolicy) else RetryPolicy(retries=retries)
        # Sent to the API only: result files are fetched by their signed URLs, and a presigned S3 URL refuses a
        # request that carries a second credential.
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}

    def _http_timeout(self, seconds: float) -> httpx.Timeout:
        return httpx.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT_S))

    def _parse_call(self, source: Source, timeout: float | None, options: Mapping[str, Any],
                    accept: str | None = None) -> dict[str, Any]:
        body = {**wire_options(options), "file": Document.of(source).as_file_field()}
        deadline = self.timeout if timeout is None else timeout
        headers = {**self._auth, TIMEOUT_HEADER: f"{deadline:g}", **({"Accept": accept} if accept else {})}
        return {"method": "POST", "url": PARSE_PATH, "json": body, "headers": headers,
                "timeout": self._http_timeout(deadline + DEADLINE_GRACE_S)}

    def _submit_call(self, source: Source, model: str, page_ranges: str | None,
                     options: Mapping[str, Any]) -> dict[str, Any]:
        payload = wire_options(options)
        document = Document.of(source)
        # The same key on every resend: a submission that reached the server but whose answer was lost returns the
        # job it started, instead of starting a second one.
        headers = {**self._auth, IDEMPOTENCY_HEADER: str(uuid.uuid4())}
        call: dict[str, Any] = {"method": "POST", "url": JOBS_PATH, "headers": headers}
        if document.url is not None:
            fields = {"fileUrl": document.url, "model": model, "optionalPayload": payload, "pageRanges": page_ranges}
            call["json"] = {name: value for name, value in fields.items() if value is not None}
        else:
            form = {"model": model, "optionalPayload": json.dumps(payload), "pageRanges": page_ranges}
            call["data"] = {name: value for name, value in form.items() if value is not None}
            call["files"] = {"file": (document.name, document.data, "application/octet-stream")}
        return call

    def _api_get(self, path: str, **params: Any) -> dict[str, Any]:
        return {"method": "GET", "url": path, "headers": self._auth, "params": params}


class Client(_Base):
    """The blocking client. One per thread or shared: it keeps a pool of connections to the server."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, token: str | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT_S, retries: int | RetryPolicy = DEFAULT_RETRIES) -> None:
        super().__init__(base_url, token, timeout, retries)
        self._http = httpx.Client(base_url=self.base_url, timeout=self._http_timeout(timeout))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def parse(self, source: Source, *, timeout: float | None = None, **options: Any) -> LayoutParsingResultSet:
        """`POST /layout-parsing`: every page's result and the document's `dataInfo`. `timeout` (the client's by
        default) is the request's deadline on the server too."""
        response = self._send(self._parse_call(source, timeout, options), idempotent=False)
        return _model(LayoutParsingResultSet, _json(response).get("result"))

    def stream_pages(self, source: Source, *, timeout: float | None = None, **options: Any) -> Iterator[Page]:
        """Each page as soon as the server has written it, in the order pages finish (page order with
        `restructurePages`). A failure after the first page is raised when reached, the pages before it valid.
        The options are checked now; the request is sent when iteration starts."""
        return self._stream(self._parse_call(source, timeout, options, accept=NDJSON))

    def _stream(self, call: dict[str, Any]) -> Iterator[Page]:
        response = self._send(call, idempotent=False, stream=True)
        try:
            for line in response.iter_lines():
                if line.strip():
                    page = _streamed_line(line)
                    if page is None:
                        return
                    yield page
        except httpx.TransportError as exc:
            raise _transport_error(exc, response.url) from exc
        finally:
            response.close()
        raise ConnectionFailedError(None, "The streamed answer ended before its last line")

    def submit(self, source: Source, *, model: str = DEFAULT_JOB_MODEL, page_ranges: str | None = None,
               **options: Any) -> str:
        """Starts a job (`POST /api/v2/ocr/jobs`) over the document, or its `page_ranges` (`"2,4-6"`, from 1), and
        returns its id."""
        response = self._send(self._submit_call(source, model, page_ranges, options), idempotent=True)
        return _model(JobCreatedResponse, _json(response)).data.jobId

    def job(self, job_id: str) -> JobStatus:
        return _model(JobStatusResponse, _json(self._send(self._api_get(f"{JOBS_PATH}/{job_id}")))).data

    def job_pages(self, job_id: str, after: int = 0) -> JobPages:
        """The job's pages done so far, in its order from position `after`; ask again from `next`."""
        call = self._api_get(f"{JOBS_PATH}/{job_id}/pages", after=after)
        return _model(JobPagesResponse, _json(self._send(call))).data

    def wait(self, job_id: str, *, poll_interval: float = DEFAULT_POLL_INTERVAL_S,
             timeout: float = DEFAULT_WAIT_TIMEOUT_S) -> list[Page]:
        """The job's pages once it is done, in its order. A page that failed while the job went on is missing
        (the job's `failedPages` name them); a job that failed raises JobFailedError."""
        deadline = time.monotonic() + timeout
        while (status := self.job(job_id)).state not in ("done", "failed"):
            if time.monotonic() + poll_interval > deadline:
                raise DeadlineError(None, f"Job {job_id} is still {status.state} after {timeout:g} s")
            time.sleep(poll_interval)
        if status.state == "failed" or status.resultUrl is None:
            raise JobFailedError(job_id, status.errorMsg or f"The job ended {status.state} without a result")
        return _result_pages(self.file(status.resultUrl.jsonUrl).decode())

    def file(self, value: str) -> bytes:
        """A file of a result: `markdown.images`, `outputImages`, `inputImage`, `exports` values, the job's result.
        A URL is fetched (it is signed: no API key is sent); anything else is Base64."""
        if not _is_url(value):
            return base64.b64decode(value)
        return self._send({"method": "GET", "url": value}).content

    def save_markdown(self, result: LayoutParsingResult, directory: str | os.PathLike[str],
                      name: str = MARKDOWN_FILE) -> Path:
        """Writes a page's Markdown to `directory`/`name` and each of its pictures where the Markdown links to it;
        returns the Markdown's path."""
        for target, value in _markdown_targets(result, directory).items():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.file(value))
        markdown = Path(directory, name)
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(result.markdown.text, encoding="utf-8")
        return markdown

    def _send(self, call: dict[str, Any], idempotent: bool = True, stream: bool = False) -> httpx.Response:
        """Sends `call` (httpx.Client.build_request's arguments), again while the retry policy allows; returns a
        successful answer (to be closed by the caller when `stream`) or raises the error of the last try."""
        attempt = 0
        while True:
            request = self._http.build_request(**call)
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                error = _transport_error(exc, request.url)
                delay = self.retry_policy.delay_s(attempt, error) if _may_resend(exc, idempotent) else None
                if delay is None:
                    raise error from exc
            else:
                if response.is_success:
                    return response
                response.read()
                response.close()
                error = error_from_response(response)
                delay = self.retry_policy.delay_s(attempt, error)
                if delay is None:
                    raise error
            time.sleep(delay)
            attempt += 1


class AsyncClient(_Base):
    """The asyncio client: `Client`'s methods as coroutines, `stream_pages` an async iterator."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, token: str | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT_S, retries: int | RetryPolicy = DEFAULT_RETRIES) -> None:
        super().__init__(base_url, token, timeout, retries)
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=self._http_timeout(timeout))

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def parse(self, source: Source, *, timeout: float | None = None, **options: Any) -> LayoutParsingResultSet:
        response = await self._send(self._parse_call(source, timeout, options), idempotent=False)
        return _model(LayoutParsingResultSet, _json(response).get("result"))

    def stream_pages(self, source: Source, *, timeout: float | None = None, **options: Any) -> AsyncIterator[Page]:
        return self._stream(self._parse_call(source, timeout, options, accept=NDJSON))

    async def _stream(self, call: dict[str, Any]) -> AsyncIterator[Page]:
        response = await self._send(call, idempotent=False, stream=True)
        try:
            async for line in response.aiter_lines():
                if line.strip():
                    page = _streamed_line(line)
                    if page is None:
                        return
                    yield page
        except httpx.TransportError as exc:
            raise _transport_error(exc, response.url) from exc
        finally:
            await response.aclose()
        raise ConnectionFailedError(None, "The streamed answer ended before its last line")

    async def submit(self, source: Source, *, model: str = DEFAULT_JOB_MODEL, page_ranges: str | None = None,
                     **options: Any) -> str:
        response = await self._send(self._submit_call(source, model, page_ranges, options), idempotent=True)
        return _model(JobCreatedResponse, _json(response)).data.jobId

    async def job(self, job_id: str) -> JobStatus:
        return _model(JobStatusResponse, _json(await self._send(self._api_get(f"{JOBS_PATH}/{job_id}")))).data

    async def job_pages(self, job_id: str, after: int = 0) -> JobPages:
        call = self._api_get(f"{JOBS_PATH}/{job_id}/pages", after=after)
        return _model(JobPagesResponse, _json(await self._send(call))).data

    async def wait(self, job_id: str, *, poll_interval: float = DEFAULT_POLL_INTERVAL_S,
                   timeout: float = DEFAULT_WAIT_TIMEOUT_S) -> list[Page]:
        deadline = time.monotonic() + timeout
        while (status := await self.job(job_id)).state not in ("done", "failed"):
            if time.monotonic() + poll_interval > deadline:
                raise DeadlineError(None, f"Job {job_id} is still {status.state} after {timeout:g} s")
            await asyncio.sleep(poll_interval)
        if status.state == "failed" or status.resultUrl is None:
            raise JobFailedError(job_id, status.errorMsg or f"The job ended {status.state} without a result")
        return _result_pages((await self.file(status.resultUrl.jsonUrl)).decode())

    async def file(self, value: str) -> bytes:
        if not _is_url(value):
            return base64.b64decode(value)
        return (await self._send({"method": "GET", "url": value})).content

    async def save_markdown(self, result: LayoutParsingResult, directory: str | os.PathLike[str],
                            name: str = MARKDOWN_FILE) -> Path:
        for target, value in _markdown_targets(result, directory).items():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(await self.file(value))
        markdown = Path(directory, name)
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(result.markdown.text, encoding="utf-8")
        return markdown

    async def _send(self, call: dict[str, Any], idempotent: bool = True, stream: bool = False) -> httpx.Response:
        attempt = 0
        while True:
            request = self._http.build_request(**call)
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                error = _transport_error(exc, request.url)
                delay = self.retry_policy.delay_s(attempt, error) if _may_resend(exc, idempotent) else None
                if delay is None:
                    raise error from exc
            else:
                if response.is_success:
                    return response
                await response.aread()
                await response.aclose()
                error = error_from_response(response)
                delay = self.retry_policy.delay_s(attempt, error)
                if delay is None:
                    raise error
            await asyncio.sleep(delay)
            attempt += 1
