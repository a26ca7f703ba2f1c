"""Runs jobs: each ingress replica leases jobs from Redis and sends their pages through the same two stages as
synchronous requests, recording each page as it is done. A replica that dies stops renewing its lease; another
replica takes the job over and goes on from the recorded pages, so every page is in the result exactly once.

Jobs and synchronous requests share the stages: a replica runs at most `jobs.jobs_per_replica` jobs at once, each
with the pipeline's bound on pages in flight, so a job takes a bounded share next to the requests admitted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from contextlib import aclosing, suppress
from dataclasses import replace
from datetime import datetime, timezone

from layout.decode import InputError, data_info
from serve.backends.base import RecognitionCapabilities
from serve.config import ServiceConfig
from serve.delivery import StoredDelivery
from serve.errors import INTERNAL_ERROR_MESSAGE
from serve.jobs.records import JobRecords
from serve.jobs.submission import check_options, page_indices
from serve.pipeline import DocumentPipeline, ParseOptions
from serve.protocol import RestructurePage, RestructurePagesRequest
from serve.restructuring import ImageSource, restructure
from serve.storage import ResultStore
from serve.url_fetch import fetch_url

logger = logging.getLogger("ocrvl")

RESULT_NAME = "result.jsonl"
# requests decodes text without a charset as Latin-1: name it.
JSONL_CONTENT_TYPE = "application/jsonl; charset=utf-8"
INPUT_NAME = "input"
# Leases are renewed this many times per lease period, so one late renewal does not lose the job.
RENEWALS_PER_LEASE = 3


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class JobRunner:
    def __init__(
        self, config: ServiceConfig, records: JobRecords, store: ResultStore, pipeline: DocumentPipeline,
        capabilities: RecognitionCapabilities, images: ImageSource,
    ) -> None:
        self._config = config
        self._records = records
        self._store = store
        self._pipeline = pipeline
        self._capabilities = capabilities
        self._images = images
        self._name = f"runner-{uuid.uuid4()}"
        self._workers: list[asyncio.Task[None]] = []

    def ensure_running(self) -> None:
        """Starts the replica's job workers on the running event loop, once (again for any that stopped)."""
        self._workers = [task for task in self._workers if not task.done()]
        while len(self._workers) < self._config.jobs.jobs_per_replica:
            self._workers.append(asyncio.create_task(self._work_forever()))

    async def _work_forever(self) -> None:
        while True:
            try:
                job_id = await self._records.claim(self._name)
            except Exception:  # Redis down now may be up at the next look
                logger.warning("looking for jobs failed", exc_info=True)
                job_id = None
            if job_id is None:
                await asyncio.sleep(self._config.jobs.poll_interval_s)
                continue
            await self._run(job_id)

    async def _run(self, job_id: str) -> None:
        record = await self._records.get(job_id)
        if record is None or record["state"] in ("done", "failed"):
            await self._records.release(job_id)
            return
        work = asyncio.create_task(self._execute(job_id, record))
        keeper = asyncio.create_task(self._keep_lease(job_id, work))
        try:
            await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the replica is stopping: the lease lapses and another replica goes on
            # Cancelled by its client (already recorded as ended), or the lease went to another replica, which now
            # runs the job: nothing here is recorded as its end.
            logger.warning("job %s stopped: cancelled, or its lease was taken over", job_id)
            if (await self._records.get(job_id) or {}).get("state") == "failed":
                await self._records.release(job_id)
            return
        except InputError as exc:
            await self._end(job_id, {"state": "failed", "errorMsg": str(exc)})
        except Exception:
            logger.exception("job %s failed", job_id)
            await self._end(job_id, {"state": "failed", "errorMsg": INTERNAL_ERROR_MESSAGE})
        finally:
            keeper.cancel()

    async def _keep_lease(self, job_id: str, work: asyncio.Task[None]) -> None:
        """Renews the lease while the job runs; stops the work when another replica holds the lease, or when the
        job was cancelled (its pages in flight are aborted with it)."""
        while True:
            await asyncio.sleep(self._config.jobs.lease_s / RENEWALS_PER_LEASE)
            with suppress(Exception):  # a failed renewal is retried; only a lease held by another ends the work
                record = await self._records.get(job_id)
                if record is None or record["state"] == "failed" or not await self._records.renew(job_id, self._name):
                    work.cancel()
                    return

    async def _execute(self, job_id: str, record: dict[str, str]) -> None:
        await self._records.update(job_id, {"state": "running", "startTime": record.get("startTime") or now_iso()})
        options = check_options(json.loads(record["options"]), self._config, self._capabilities)
        data = await self._file(job_id, record)
        base_url = record["baseUrl"]
        document = await self._pipeline.open(data, None, record.get("fileName") or None)
        try:
            pages = (
                page_indices(record["pageRanges"], document.num_pages) if record.get("pageRanges")
                else list(range(document.num_pages))
            )
            await self._records.update(job_id, {"totalPages": str(len(pages))})
            recorded = await self._records.pages(job_id)
            todo = [index for index in pages if index not in recorded]
            delivery = StoredDelivery(self._store, job_id, base_url)
            # Restructuring needs every page, which another replica may have read: it runs over the recorded
            # pages at the end.
            per_page = replace(options, restructure=None)
            async with aclosing(self._pipeline.page_results(document, per_page, delivery, todo)) as results:
                async for index, result in results:
                    done = await self._records.record_page(job_id, index, result.model_dump(mode="json",
                                                                                            exclude_unset=True))
                    await self._records.update(job_id, {"extractedPages": str(done)})
            info = data_info(document)
        finally:
            document.close()
        recorded = await self._records.pages(job_id)
        results = [recorded[index] for index in pages]
        if options.restructure is not None:
            results = await self._restructured(results, options, delivery)
        lines = b"".join(
            json.dumps({"result": {"layoutParsingResults": [page], "dataInfo": info}}, ensure_ascii=False).encode()
            + b"\n"
            for page in results
        )
        key = f"{job_id}/{RESULT_NAME}"
        await self._store.put(key, lines, JSONL_CONTENT_TYPE, self._store.ttl_s)
        await self._end(job_id, {"state": "done", "jsonUrl": self._store.url(key, public_base_url=base_url)})

    async def _file(self, job_id: str, record: dict[str, str]) -> bytes:
        if record.get("fileUrl"):
            policy = self._config.input.url_fetch.policy(self._config.input.max_file_bytes)
            return (await fetch_url(record["fileUrl"], policy)).data
        stored = await self._store.get(f"{job_id}/{INPUT_NAME}")
        if stored is None:
            raise InputError("The uploaded file has expired from the result store before the job ran")
        return stored.data

    async def _restructured(self, pages: list[dict], options: ParseOptions, delivery: StoredDelivery) -> list[dict]:
        """The recorded pages restructured together, as `/restructure-pages` would restructure them."""
        request = RestructurePagesRequest(
            pages=[RestructurePage(prunedResult=p["prunedResult"], markdownImages=p["markdown"].get("images"))
                   for p in pages],
            mergeTables=options.restructure.merge_tables,
            relevelTitles=options.restructure.relevel_titles,
            prettifyMarkdown=options.markdown.prettify,
            showFormulaNumber=options.markdown.show_formula_number,
            returnMarkdownImages=options.return_markdown_images,
            outputFormats=["docx"] if options.export_docx else None,
        )
        restructured = await restructure(request, delivery, self._images)
        return [
            {**page, **new.model_dump(mode="json", exclude_unset=True)}
            for page, new in zip(pages, restructured.layoutParsingResults, strict=True)
        ]

    async def _end(self, job_id: str, fields: dict[str, str]) -> None:
        await self._records.update(job_id, {**fields, "endTime": now_iso()})
        await self._records.release(job_id)
