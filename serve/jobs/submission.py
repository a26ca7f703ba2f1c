"""A submitted job, read and checked before anything is stored: by URL (JSON) or by upload (multipart), with the
options `/layout-parsing` takes. Anything wrong is a JobRequestError, which the client sees as a 400 (the official
client's `InvalidRequestError`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request

from layout.decode import InputError
from serve.backends.base import RecognitionCapabilities
from serve.config import ServiceConfig
from serve.pipeline import ParseOptions
from serve.protocol import JobSubmission, LayoutParsingRequest
from serve.url_fetch import is_url

MULTIPART = "multipart/form-data"
# `optionalPayload` is checked as a `/layout-parsing` body; this stands in for the file it does not carry.
FILE_PLACEHOLDER = "job"
_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


class JobRequestError(ValueError):
    """A submission the service refuses (400)."""


@dataclass(frozen=True)
class SubmittedJob:
    model: str
    options: dict
    page_ranges: str | None
    batch_id: str | None
    webhook_url: str | None
    # Exactly one of the two.
    file_url: str | None
    upload: bytes | None
    file_name: str | None


async def read_submission(
    request: Request, config: ServiceConfig, capabilities: RecognitionCapabilities
) -> SubmittedJob:
    if request.headers.get("content-type", "").startswith(MULTIPART):
        job = await _from_form(request, config.input.max_file_bytes)
    else:
        job = await _from_json(request)
    if job.model not in config.jobs.models:
        raise JobRequestError(f"Unknown model {job.model!r}; this service runs {', '.join(config.jobs.models)}")
    check_options(job.options, config, capabilities)
    if job.page_ranges is not None:
        page_indices(job.page_ranges, num_pages=None)
    return job


async def _from_json(request: Request) -> SubmittedJob:
    try:
        body = JobSubmission.model_validate_json(await request.body())
    except ValidationError as exc:
        raise JobRequestError(_first_error(exc)) from None
    if not is_url(body.fileUrl):
        raise JobRequestError("fileUrl must be an http(s) URL")
    return SubmittedJob(body.model, body.optionalPayload, body.pageRanges, body.batchId, body.webhookUrl,
                        body.fileUrl, None, None)


async def _from_form(request: Request, max_file_bytes: int) -> SubmittedJob:
    form = await request.form(max_files=1)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise JobRequestError("A multipart job needs its document in the `file` field")
    data = await upload.read(max_file_bytes + 1)
    if len(data) > max_file_bytes:
        raise JobRequestError(f"The file is larger than {max_file_bytes} bytes")
    try:
        options = json.loads(str(form.get("optionalPayload") or "{}"))
    except json.JSONDecodeError as exc:
        raise JobRequestError(f"optionalPayload is not JSON: {exc}") from None
    if not isinstance(options, dict):
        raise JobRequestError("optionalPayload must be a JSON object")
    model = form.get("model")
    if not isinstance(model, str):
        raise JobRequestError("A job needs a `model`")
    text = {name: value for name in ("pageRanges", "batchId", "webhookUrl") if isinstance(value := form.get(name), str)}
    return SubmittedJob(model, options, text.get("pageRanges"), text.get("batchId"), text.get("webhookUrl"), None,
                        data, upload.filename)


def check_options(
    options: dict, config: ServiceConfig, capabilities: RecognitionCapabilities, client: str | None = None
) -> ParseOptions:
    """The job's options resolved as `/layout-parsing` resolves a request's fields, for its `client`."""
    try:
        request = LayoutParsingRequest.model_validate({**options, "file": FILE_PLACEHOLDER})
        return ParseOptions.from_request(request, config, capabilities, client, job=True)
    except ValidationError as exc:
        raise JobRequestError(_first_error(exc)) from None
    except InputError as exc:
        raise JobRequestError(str(exc)) from None


def page_indices(page_ranges: str, num_pages: int | None) -> list[int]:
    """0-based page indices of `"2,4-6"` (1-based, inclusive), in order, each once; with `num_pages`, every page
    must exist."""
    indices: list[int] = []
    for part in page_ranges.split(","):
        match = _RANGE.match(part)
        if match is None:
            raise JobRequestError(f"pageRanges {page_ranges!r}: expected pages and ranges such as '2,4-6'")
        first, last = int(match[1]), int(match[2] or match[1])
        if first < 1 or last < first:
            raise JobRequestError(f"pageRanges {page_ranges!r}: {part.strip()!r} is not a range of pages from 1 on")
        indices += [i for i in range(first - 1, last) if i not in indices]
    if num_pages is not None and indices[-1:] and max(indices) >= num_pages:
        raise InputError(f"pageRanges {page_ranges!r} goes past the document's {num_pages} pages")
    return indices


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]
