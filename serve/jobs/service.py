"""The Job API's three operations, for the ingress's routes: submit, a job's status, a batch's status."""

from __future__ import annotations

import json
import uuid

from fastapi import HTTPException
from starlette.requests import Request

from serve.backends.base import RecognitionCapabilities
from serve.config import ServiceConfig
from serve.jobs.records import JobRecords
from serve.jobs.runner import INPUT_NAME, now_iso
from serve.jobs.submission import read_submission
from serve.protocol import BatchStatus, ExtractProgress, JobCreated, JobStatus, ResultUrl
from serve.storage import ResultStore

# What an uploaded file is stored as: the service finds the type from its bytes.
UPLOAD_CONTENT_TYPE = "application/octet-stream"
# Resubmitting with the same key (per client) returns the first job instead of a new one.
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Whose idempotency keys these are when auth is off.
ANONYMOUS = "anonymous"
CANCELLED_MESSAGE = "Cancelled by the client"


class JobService:
    def __init__(
        self, config: ServiceConfig, records: JobRecords, store: ResultStore, capabilities: RecognitionCapabilities
    ) -> None:
        self._config = config
        self._records = records
        self._store = store
        self._capabilities = capabilities

    async def submit(self, request: Request, client: str | None) -> JobCreated:
        job = await read_submission(request, self._config, self._capabilities)
        job_id = str(uuid.uuid4())
        idempotency_key = request.headers.get(IDEMPOTENCY_HEADER)
        if idempotency_key:
            first = await self._records.remember_submission(client or ANONYMOUS, idempotency_key, job_id)
            if first != job_id:
                return JobCreated(jobId=first)
        if job.upload is not None:
            await self._store.put(f"{job_id}/{INPUT_NAME}", job.upload, UPLOAD_CONTENT_TYPE, self._store.ttl_s)
        base_url = self._config.storage.public_base_url or str(request.base_url)
        fields = {
            "state": "pending", "model": job.model, "options": json.dumps(job.options), "createdAt": now_iso(),
            "baseUrl": base_url.rstrip("/"), "totalPages": "0", "extractedPages": "0",
            "fileUrl": job.file_url or "", "fileName": job.file_name or "", "pageRanges": job.page_ranges or "",
            "batchId": job.batch_id or "", "client": client or "",
        }
        await self._records.create(job_id, fields)
        return JobCreated(jobId=job_id)

    async def cancel(self, job_id: str) -> JobStatus:
        """Ends a job that has not ended as failed, its pages in flight aborted; an ended job stays as it is."""
        record = await self._records.get(job_id)
        if record is None:
            raise HTTPException(404, f"Unknown job {job_id!r} (or its record has expired)")
        if record["state"] in ("pending", "running"):
            await self._records.cancel(job_id, CANCELLED_MESSAGE, now_iso())
        return await self.status(job_id)

    async def status(self, job_id: str) -> JobStatus:
        record = await self._records.get(job_id)
        if record is None:
            raise HTTPException(404, f"Unknown job {job_id!r} (or its record has expired)")
        return job_status(job_id, record)

    async def batch(self, batch_id: str) -> BatchStatus:
        statuses = []
        for job_id in await self._records.batch(batch_id):
            record = await self._records.get(job_id)
            if record is not None:
                statuses.append(job_status(job_id, record))
        if not statuses:
            raise HTTPException(404, f"Unknown batch {batch_id!r} (or its records have expired)")
        return BatchStatus(batchId=batch_id, extractResult=statuses)


def job_status(job_id: str, record: dict[str, str]) -> JobStatus:
    status = JobStatus(
        jobId=job_id,
        state=record["state"],
        extractProgress=ExtractProgress(
            totalPages=int(record.get("totalPages") or 0), extractedPages=int(record.get("extractedPages") or 0),
            startTime=record.get("startTime") or None, endTime=record.get("endTime") or None,
        ),
    )
    if record.get("jsonUrl"):
        status.resultUrl = ResultUrl(jsonUrl=record["jsonUrl"])
    if record.get("errorMsg"):
        status.errorMsg = record["errorMsg"]
    return status
