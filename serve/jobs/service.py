"""The Job API's operations, for the ingress's routes: submit, a job's status and pages, cancel, a batch's status."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

from fastapi import HTTPException
from starlette.requests import Request

from layout.decode import InputError
from serve.backends.base import RecognitionCapabilities
from serve.config import ServiceConfig
from serve.errors import QuotaExceeded
from serve.jobs.records import JobRecords
from serve.jobs.submission import JobRequestError, page_indices, read_submission
from serve.jobs.webhooks import WebhookSender
from serve.metrics import JobMetrics
from serve.protocol import (
    BatchStatus,
    ExtractProgress,
    FailedPage,
    JobCreated,
    JobPage,
    JobPages,
    JobStatus,
    ResultUrl,
)
from serve.storage import ResultStore

# What an uploaded file is stored as: the service finds the type from its bytes.
UPLOAD_CONTENT_TYPE = "application/octet-stream"
# Resubmitting with the same key (per client) returns the first job instead of a new one.
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Whose idempotency keys these are when auth is off.
ANONYMOUS = "anonymous"
CANCELLED_MESSAGE = "Cancelled by the client"
# Where an uploaded file waits for its job, in the result store (under the job's id).
INPUT_NAME = "input"
# `webhookState` of an ended job: its webhook is still to be called, got through, or was given up on.
WEBHOOK_PENDING = "pending"
WEBHOOK_DELIVERED = "delivered"
WEBHOOK_GIVEN_UP = "undeliverable"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class JobService:
    def __init__(
        self, config: ServiceConfig, records: JobRecords, store: ResultStore, capabilities: RecognitionCapabilities,
        webhooks: WebhookSender | None, metrics: JobMetrics,
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._records = records
        self._store = store
        self._capabilities = capabilities
        self._webhooks = webhooks

    async def submit(self, request: Request, client: str | None) -> JobCreated:
        job = await read_submission(request, self._config, self._capabilities)
        if job.webhook_url is not None:
            await self._check_webhook(job.webhook_url)
        job_id = str(uuid.uuid4())
        owner = client or ANONYMOUS
        idempotency_key = request.headers.get(IDEMPOTENCY_HEADER)
        if idempotency_key:
            first = await self._records.remember_submission(owner, idempotency_key, job_id)
            if first != job_id:
                return JobCreated(jobId=first)
        limit = self._config.jobs.max_jobs_in_flight_per_client
        if not await self._records.admit(owner, job_id, limit):
            if idempotency_key:
                await self._records.forget_submission(owner, idempotency_key)
            raise QuotaExceeded(f"{limit} jobs are already pending or running for this client; submit more as they "
                                "end", {"Retry-After": str(self._config.admission.retry_after_s)})
        if job.upload is not None:
            await self._store.put(f"{job_id}/{INPUT_NAME}", job.upload, UPLOAD_CONTENT_TYPE, self._store.ttl_s)
        base_url = self._config.storage.public_base_url or str(request.base_url)
        fields = {
            "state": "pending", "model": job.model, "options": json.dumps(job.options), "createdAt": now_iso(),
            "baseUrl": base_url.rstrip("/"), "totalPages": "0", "extractedPages": "0",
            "fileUrl": job.file_url or "", "fileName": job.file_name or "", "pageRanges": job.page_ranges or "",
            "batchId": job.batch_id or "", "client": owner, "webhookUrl": job.webhook_url or "",
        }
        await self._records.create(job_id, fields)
        self._metrics.submitted.inc()
        return JobCreated(jobId=job_id)

    async def _check_webhook(self, url: str) -> None:
        if self._webhooks is None:
            raise JobRequestError("This server sends no webhooks (jobs.webhooks.enabled is off): poll the job instead")
        try:
            await self._webhooks.check(url)
        except InputError as exc:
            raise JobRequestError(f"webhookUrl: {exc}") from None

    async def cancel(self, job_id: str, client: str | None) -> JobStatus:
        """Ends a job that has not ended as failed, its pages in flight aborted; an ended job stays as it is."""
        record = await self._record(job_id, client)
        if record["state"] in ("pending", "running"):
            fields = ended_fields(record, "failed", CANCELLED_MESSAGE)
            await self._records.end(job_id, fields, notify="webhookState" in fields)
            self._metrics.ended.inc(tags={"state": "failed"})
        return await self.status(job_id, client)

    async def status(self, job_id: str, client: str | None) -> JobStatus:
        return job_status(job_id, await self._record(job_id, client), await self._records.failures(job_id))

    async def pages(self, job_id: str, client: str | None, after: int) -> JobPages:
        """The job's pages from position `after` of its order on, as far as they are done, at most
        `jobs.pages_per_answer`; failed pages come with their error."""
        record = await self._record(job_id, client)
        total = int(record.get("totalPages") or 0)
        order = job_page_order(record)[after:after + self._config.jobs.pages_per_answer]
        failures = await self._records.failures(job_id)
        pages: list[JobPage] = []
        for index, result in zip(order, await self._records.some_pages(job_id, order), strict=True):
            if result is not None:
                pages.append(JobPage(pageIndex=index, result={"layoutParsingResults": [result]}))
            elif index in failures:
                pages.append(JobPage(pageIndex=index, errorMsg=failures[index]))
            else:
                break
        return JobPages(jobId=job_id, state=record["state"], pages=pages, next=after + len(pages), totalPages=total)

    async def batch(self, batch_id: str, client: str | None) -> BatchStatus:
        statuses = []
        for job_id in await self._records.batch(batch_id):
            record = await self._records.get(job_id)
            if record is not None and record.get("client") == (client or ANONYMOUS):
                statuses.append(job_status(job_id, record, await self._records.failures(job_id)))
        if not statuses:
            raise HTTPException(404, f"Unknown batch {batch_id!r} (or its records have expired)")
        return BatchStatus(batchId=batch_id, extractResult=statuses)

    async def _record(self, job_id: str, client: str | None) -> dict[str, str]:
        """The job's record, for the client that submitted it only: to any other, the job does not exist."""
        record = await self._records.get(job_id)
        if record is None or record.get("client") != (client or ANONYMOUS):
            raise HTTPException(404, f"Unknown job {job_id!r} (or its record has expired)")
        return record


def job_page_order(record: dict[str, str]) -> list[int]:
    """The job's pages in result order, once its document has been opened (none before)."""
    total = int(record.get("totalPages") or 0)
    if not total:
        return []
    return page_indices(record["pageRanges"], None) if record.get("pageRanges") else list(range(total))


def ended_fields(record: dict[str, str], state: str, error: str | None) -> dict[str, str]:
    """What a job's record says once it has ended: its webhook, if it has one, is still to be called."""
    fields = {"state": state, "endTime": now_iso()}
    if error is not None:
        fields["errorMsg"] = error
    if record.get("webhookUrl"):
        fields["webhookState"] = WEBHOOK_PENDING
    return fields


def job_status(job_id: str, record: dict[str, str], failures: dict[int, str]) -> JobStatus:
    status = JobStatus(
        jobId=job_id,
        state=record["state"],
        extractProgress=ExtractProgress(
            totalPages=int(record.get("totalPages") or 0), extractedPages=int(record.get("extractedPages") or 0),
            startTime=record.get("startTime") or None, endTime=record.get("endTime") or None,
        ),
    )
    if record.get("jsonUrl"):
        status.resultUrl = ResultUrl(jsonUrl=record["jsonUrl"], markdownUrl=record.get("markdownUrl") or None)
    if record.get("errorMsg"):
        status.errorMsg = record["errorMsg"]
    if failures:
        status.failedPages = [FailedPage(pageIndex=index, errorMsg=failures[index]) for index in sorted(failures)]
    return status
