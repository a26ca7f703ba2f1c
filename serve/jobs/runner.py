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
from collections.abc import Coroutine
from contextlib import aclosing, suppress
from dataclasses import replace
from typing import Any

from redis.exceptions import RedisError

from layout.decode import InputError, data_info
from serve.backends.base import RecognitionCapabilities
from serve.config import ServiceConfig
from serve.delivery import StoredDelivery
from serve.errors import INTERNAL_ERROR_MESSAGE, QuotaExceeded, QuotaUnavailable
from serve.jobs.records import JobRecords
from serve.jobs.service import (
    INPUT_NAME,
    WEBHOOK_DELIVERED,
    WEBHOOK_GIVEN_UP,
    WEBHOOK_PENDING,
    ended_fields,
    job_status,
    now_iso,
)
from serve.jobs.submission import check_options, page_indices
from serve.jobs.webhooks import WebhookSender
from serve.metrics import JobMetrics
from serve.pipeline import DocumentPipeline, ParseOptions
from serve.protocol import RestructurePage, RestructurePagesRequest
from serve.quotas import Quotas
from serve.restructuring import ImageSource, restructure
from serve.storage import ResultStore
from serve.url_fetch import fetch_url

logger = logging.getLogger("ocrvl")

RESULT_NAME = "result.jsonl"
MARKDOWN_NAME = "result.md"
# requests decodes text without a charset as Latin-1: name it.
JSONL_CONTENT_TYPE = "application/jsonl; charset=utf-8"
MARKDOWN_CONTENT_TYPE = "text/markdown; charset=utf-8"
# Between two pages' Markdown in the job's one Markdown file.
PAGE_SEPARATOR = "\n\n"
# Leases are renewed this many times per lease period, so one late renewal does not lose the job.
RENEWALS_PER_LEASE = 3
ENDED = ("done", "failed")


class JobRunner:
    def __init__(
        self, config: ServiceConfig, records: JobRecords, store: ResultStore, pipeline: DocumentPipeline,
        capabilities: RecognitionCapabilities, images: ImageSource, quotas: Quotas | None,
        webhooks: WebhookSender | None, metrics: JobMetrics,
    ) -> None:
        self._config = config
        self._records = records
        self._store = store
        self._pipeline = pipeline
        self._capabilities = capabilities
        self._images = images
        self._quotas = quotas
        self._webhooks = webhooks
        self._metrics = metrics
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
                self._metrics.queued.set(await self._records.queued())
                claim = await self._records.claim(self._name)
            except Exception:  # Redis down now may be up at the next look
                logger.warning("looking for jobs failed", exc_info=True)
                claim = None
            if claim is None:
                await asyncio.sleep(self._config.jobs.poll_interval_s)
                continue
            if claim.taken_over:
                self._metrics.takeovers.inc()
            try:
                with self._metrics.running_job():
                    await self._run(claim.job_id)
            except RedisError:
                # Not the job's failure: its lease lapses while Redis is away, and a replica (maybe this one) takes
                # it over from its recorded pages once Redis is back.
                logger.warning("job %s: the job store became unreachable; the job will be taken over",
                               claim.job_id, exc_info=True)

    async def _run(self, job_id: str) -> None:
        """Runs the job, calls its webhook once it has ended, and releases it, each step under the lease; a step
        the lease was lost in is left to the replica that holds it now."""
        record = await self._records.get(job_id)
        if record is not None and record["state"] not in ENDED:
            if not await self._leased(job_id, self._execute(job_id, record), stop_when_ended=True):
                return
            record = await self._records.get(job_id)
        if record is not None and record.get("webhookState") == WEBHOOK_PENDING:
            if not await self._leased(job_id, self._notify(job_id, record), stop_when_ended=False):
                return
        await self._records.release(job_id)

    async def _leased(self, job_id: str, step: Coroutine[Any, Any, None], stop_when_ended: bool) -> bool:
        """Runs one step of the job while renewing its lease. False when the step was stopped because another
        replica holds the lease now. With `stop_when_ended`, a job cancelled by its client stops the step too,
        and goes on to its end (True)."""
        work = asyncio.create_task(step)
        keeper = asyncio.create_task(self._keep_lease(job_id, work, stop_when_ended))
        try:
            await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the replica is stopping: the lease lapses and another replica goes on
            ended = (await self._records.get(job_id) or {}).get("state") in ENDED
            logger.warning("job %s stopped: %s", job_id, "cancelled" if ended else "its lease was taken over")
            return ended
        finally:
            keeper.cancel()
        return True

    async def _keep_lease(self, job_id: str, work: asyncio.Task[None], stop_when_ended: bool) -> None:
        """Renews the lease while a step runs; stops the step when another replica holds the lease, or (with
        `stop_when_ended`) when the job was cancelled: its pages in flight are aborted with it."""
        while True:
            await asyncio.sleep(self._config.jobs.lease_s / RENEWALS_PER_LEASE)
            with suppress(Exception):  # a failed renewal is retried; only a lease held by another ends the work
                record = await self._records.get(job_id)
                ended = record is None or (stop_when_ended and record["state"] in ENDED)
                if ended or not await self._records.renew(job_id, self._name):
                    work.cancel()
                    return

    async def _execute(self, job_id: str, record: dict[str, str]) -> None:
        """Reads the job's pages and writes its result; a job that cannot go on ends as failed with the reason."""
        try:
            await self._read_and_finish(job_id, record)
        except RedisError:
            raise  # the job store, not the job: see _work_forever
        except (InputError, QuotaExceeded, QuotaUnavailable) as exc:
            await self._end(job_id, "failed", str(exc))
        except Exception:
            logger.exception("job %s failed", job_id)
            await self._end(job_id, "failed", INTERNAL_ERROR_MESSAGE)

    async def _read_and_finish(self, job_id: str, record: dict[str, str]) -> None:
        start = record.get("startTime") or now_iso()
        if not record.get("startTime"):
            self._metrics.waited(record["createdAt"], start)
        await self._records.update(job_id, {"state": "running", "startTime": start})
        options = check_options(json.loads(record["options"]), self._config, self._capabilities)
        data = await self._file(job_id, record)
        base_url = record["baseUrl"]
        document = await self._pipeline.open(data, None, record.get("fileName") or None)
        try:
            pages = (
                page_indices(record["pageRanges"], document.num_pages) if record.get("pageRanges")
                else list(range(document.num_pages))
            )
            await self._count_pages(job_id, record, len(pages))
            await self._records.update(job_id, {"totalPages": str(len(pages))})
            done = set(await self._records.pages(job_id)) | set(await self._records.failures(job_id))
            todo = [index for index in pages if index not in done]
            delivery = StoredDelivery(self._store, job_id, base_url)

            async def page_failed(index: int, error: Exception) -> None:
                if isinstance(error, InputError):
                    message = str(error)
                else:
                    logger.error("job %s: page %d failed", job_id, index, exc_info=error)
                    message = INTERNAL_ERROR_MESSAGE
                await self._records.record_failure(job_id, index, message)
                self._metrics.pages.inc(tags={"outcome": "failed"})

            # Restructuring needs every page, which another replica may have read: it runs over the recorded
            # pages at the end.
            per_page = replace(options, restructure=None)
            results = self._pipeline.page_results(document, per_page, delivery, todo, on_failure=page_failed)
            async with aclosing(results) as finished:
                async for index, result in finished:
                    count = await self._records.record_page(job_id, index, result.model_dump(mode="json",
                                                                                             exclude_unset=True))
                    await self._records.update(job_id, {"extractedPages": str(count)})
                    self._metrics.pages.inc(tags={"outcome": "done"})
            info = data_info(document)
        finally:
            document.close()
        await self._finish(job_id, pages, info, options, delivery, base_url)

    async def _count_pages(self, job_id: str, record: dict[str, str], pages: int) -> None:
        """The job's pages against its client's daily page quota, once (not again when another replica goes on)."""
        client = record.get("client")
        if self._quotas is None or not client or record.get("pagesCounted"):
            return
        await self._quotas.count_pages(client, pages)
        await self._records.update(job_id, {"pagesCounted": "1"})

    async def _finish(
        self, job_id: str, pages: list[int], info: dict, options: ParseOptions, delivery: StoredDelivery,
        base_url: str,
    ) -> None:
        """Writes the result (JSON Lines and Markdown) from the recorded pages, in the job's order, and ends the job."""
        recorded = await self._records.pages(job_id)
        failures = await self._records.failures(job_id)
        order = [index for index in pages if index in recorded]
        if failures and (not order or self._config.jobs.fail_on_page_error):
            first = min(failures)
            await self._end(job_id, "failed", f"{len(failures)} of {len(pages)} pages failed; page {first + 1}: "
                                              f"{failures[first]}")
            return
        results = [recorded[index] for index in order]
        if options.restructure is not None:
            results = await self._restructured(results, options, delivery)
        lines = b"".join(
            json.dumps({"pageIndex": index, "result": {"layoutParsingResults": [page], "dataInfo": info}},
                       ensure_ascii=False).encode() + b"\n"
            for index, page in zip(order, results, strict=True)
        )
        markdown = PAGE_SEPARATOR.join(page["markdown"]["text"] for page in results).encode()
        json_key, markdown_key = f"{job_id}/{RESULT_NAME}", f"{job_id}/{MARKDOWN_NAME}"
        await self._store.put(json_key, lines, JSONL_CONTENT_TYPE, self._store.ttl_s)
        await self._store.put(markdown_key, markdown, MARKDOWN_CONTENT_TYPE, self._store.ttl_s)
        await self._end(job_id, "done", None, {
            "jsonUrl": self._store.url(json_key, public_base_url=base_url),
            "markdownUrl": self._store.url(markdown_key, public_base_url=base_url),
        })

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

    async def _end(self, job_id: str, state: str, error: str | None, extra: dict[str, str] | None = None) -> None:
        record = await self._records.get(job_id) or {}
        await self._records.end(job_id, {**ended_fields(record, state, error), **(extra or {})})
        self._metrics.ended.inc(tags={"state": state})

    async def _notify(self, job_id: str, record: dict[str, str]) -> None:
        """Calls the job's webhook with its final status; the record says whether it got through."""
        status = job_status(job_id, record, await self._records.failures(job_id))
        body = status.model_dump_json(exclude_unset=True).encode()
        if self._webhooks is None:
            logger.warning("job %s: webhooks were turned off since it was submitted; its webhook is not called", job_id)
            delivered = False
        else:
            delivered = await self._webhooks.deliver(record["webhookUrl"], body)
        await self._records.update(job_id, {"webhookState": WEBHOOK_DELIVERED if delivered else WEBHOOK_GIVEN_UP})
