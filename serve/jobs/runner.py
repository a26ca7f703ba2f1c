"""Works on jobs: each ingress replica leases units of jobs' work from Redis (serve/jobs/records.py: open a job's
document, read a range of its pages, write its result, call its webhook) and sends the pages through the same two
stages as synchronous requests, recording each page as it is done. One big job's ranges spread over every replica.
A replica that dies stops renewing its leases; another replica takes each unit over and goes on from the recorded
pages, so every page is in the result exactly once.

Jobs and synchronous requests share the stages: a replica works on at most `jobs.workers_per_replica` units at
once, each with the pipeline's bound on pages in flight, so jobs take a bounded share next to the requests admitted;
ranges queue behind each other in submission order, so jobs submitted together take turns.
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
from serve.jobs.records import FINISH, NOTIFY, OPEN, JobRecords, Unit
from serve.jobs.service import (
    ANONYMOUS,
    INPUT_NAME,
    UPLOAD_CONTENT_TYPE,
    WEBHOOK_DELIVERED,
    WEBHOOK_GIVEN_UP,
    WEBHOOK_PENDING,
    ended_fields,
    job_page_order,
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
# Leases are renewed this many times per lease period, so one late renewal does not lose the unit.
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
        while len(self._workers) < self._config.jobs.workers_per_replica:
            self._workers.append(asyncio.create_task(self._work_forever()))

    async def _work_forever(self) -> None:
        while True:
            try:
                self._metrics.queued.set(await self._records.queued())
                claim = await self._records.claim(self._name)
            except Exception:  # Redis down now may be up at the next look
                logger.warning("looking for job work failed", exc_info=True)
                claim = None
            if claim is None:
                await asyncio.sleep(self._config.jobs.poll_interval_s)
                continue
            if claim.taken_over:
                self._metrics.takeovers.inc()
            try:
                with self._metrics.working():
                    await self._work_on(claim.unit)
            except RedisError:
                # Not the job's failure: the unit's lease lapses while Redis is away, and a replica (maybe this one)
                # takes it over from the recorded pages once Redis is back.
                logger.warning("%s: the job store became unreachable; the work will be taken over", claim.unit,
                               exc_info=True)
            except Exception:
                # A bug outside a unit's step (which ends its job as failed): the worker goes on with other work,
                # and the unit's lease lapses for another try.
                logger.exception("%s: working on it failed", claim.unit)

    async def _work_on(self, unit: Unit) -> None:
        """One unit under its lease. A job that has ended (cancelled, failed) gets no more work but its webhook."""
        record = await self._records.get(unit.job_id)
        ended = record is None or record["state"] in ENDED
        if record is None or (ended and unit.part != NOTIFY):
            await self._records.release(unit, self._name)
            return
        if unit.part == OPEN:
            step, stop_when_ended = self._open(unit, record), True
        elif unit.range is not None:
            step, stop_when_ended = self._read_range(unit, record), True
        elif unit.part == FINISH:
            step, stop_when_ended = self._finish(unit, record), True
        elif unit.part == NOTIFY:
            step, stop_when_ended = self._notify(unit, record), False
        else:  # queued by a version that split work differently: its job cannot go on
            logger.warning("%s: unknown unit of work; dropped", unit)
            await self._records.release(unit, self._name)
            return
        if await self._leased(unit, self._failing_the_job(unit, step), stop_when_ended):
            # Opening and reading a range release their units with what they queue next; this is a no-op then.
            await self._records.release(unit, self._name)

    async def _leased(self, unit: Unit, step: Coroutine[Any, Any, None], stop_when_ended: bool) -> bool:
        """Runs a unit's step while renewing its lease. False when it was stopped because another replica holds
        the lease now. With `stop_when_ended`, a job cancelled by its client stops the step too (True)."""
        work = asyncio.create_task(step)
        keeper = asyncio.create_task(self._keep_lease(unit, work, stop_when_ended))
        try:
            await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the replica is stopping: the lease lapses and another replica goes on
            ended = (await self._records.get(unit.job_id) or {}).get("state") in ENDED
            logger.warning("%s stopped: %s", unit, "the job has ended" if ended else "its lease was taken over")
            return ended
        finally:
            keeper.cancel()
        return True

    async def _keep_lease(self, unit: Unit, work: asyncio.Task[None], stop_when_ended: bool) -> None:
        """Renews the lease while a step runs; stops the step when another replica holds the lease, or (with
        `stop_when_ended`) when the job was cancelled: its pages in flight are aborted with it."""
        while True:
            await asyncio.sleep(self._config.jobs.lease_s / RENEWALS_PER_LEASE)
            with suppress(Exception):  # a failed renewal is retried; only a lease held by another ends the work
                record = await self._records.get(unit.job_id)
                ended = record is None or (stop_when_ended and record["state"] in ENDED)
                if ended or not await self._records.renew(unit, self._name):
                    work.cancel()
                    return

    async def _failing_the_job(self, unit: Unit, step: Coroutine[Any, Any, None]) -> None:
        """Runs the step; what it cannot get past ends the whole job as failed, with the reason."""
        try:
            await step
        except RedisError:
            raise  # the job store, not the job: see _work_forever
        except (InputError, QuotaExceeded, QuotaUnavailable) as exc:
            await self._end(unit.job_id, "failed", str(exc))
        except Exception:
            logger.exception("%s failed", unit)
            await self._end(unit.job_id, "failed", INTERNAL_ERROR_MESSAGE)

    async def _open(self, unit: Unit, record: dict[str, str]) -> None:
        """Fetches and opens the document, counts its pages against the client's quota, and splits them into
        ranges. A fetched document is kept in the result store, so every range reads the same bytes."""
        job_id = unit.job_id
        started = record.get("startTime") or now_iso()
        if not record.get("startTime"):
            self._metrics.waited(record["createdAt"], started)
        await self._records.update(job_id, {"state": "running", "startTime": started})
        check_options(json.loads(record["options"]), self._config, self._capabilities)
        if record.get("fileUrl"):
            policy = self._config.input.url_fetch.policy(self._config.input.max_file_bytes)
            data = (await fetch_url(record["fileUrl"], policy)).data
            await self._store.put(f"{job_id}/{INPUT_NAME}", data, UPLOAD_CONTENT_TYPE, self._store.ttl_s)
        else:
            data = await self._input(job_id)
        document = await self._pipeline.open(data, None, record.get("fileName") or None)
        try:
            pages = (
                page_indices(record["pageRanges"], document.num_pages) if record.get("pageRanges")
                else list(range(document.num_pages))
            )
            info = data_info(document)
        finally:
            document.close()
        await self._count_pages(job_id, record, len(pages))
        ranges = -(-len(pages) // self._config.jobs.pages_per_lease)
        await self._records.split(unit, {"totalPages": str(len(pages)), "dataInfo": json.dumps(info)}, ranges)

    async def _read_range(self, unit: Unit, record: dict[str, str]) -> None:
        """Reads the range's pages not recorded yet, recording each as it is done (a page that fails, with its
        error), then marks the range done."""
        job_id = unit.job_id
        size = self._config.jobs.pages_per_lease
        pages = job_page_order(record)[unit.range * size:(unit.range + 1) * size]
        done = await self._records.settled(job_id)
        todo = [index for index in pages if index not in done]
        # Restructuring needs every page: it runs over the recorded pages when the job is finished.
        client = None if record.get("client") == ANONYMOUS else record.get("client")
        options = replace(check_options(json.loads(record["options"]), self._config, self._capabilities, client),
                          restructure=None)
        delivery = StoredDelivery(self._store, job_id, record["baseUrl"])

        async def page_failed(index: int, error: Exception) -> None:
            if isinstance(error, InputError):
                message = str(error)
            else:
                logger.error("job %s: page %d failed", job_id, index, exc_info=error)
                message = INTERNAL_ERROR_MESSAGE
            await self._records.record_failure(job_id, index, message)
            self._metrics.pages.inc(tags={"outcome": "failed"})

        if todo:
            document = await self._pipeline.open(await self._input(job_id), None, record.get("fileName") or None)
            try:
                results = self._pipeline.page_results(document, options, delivery, todo, on_failure=page_failed)
                async with aclosing(results) as finished:
                    async for index, result in finished:
                        page = result.model_dump(mode="json", exclude_unset=True)
                        await self._records.record_page(job_id, index, page)
                        self._metrics.pages.inc(tags={"outcome": "done"})
            finally:
                document.close()
        await self._records.range_done(unit, self._name)

    async def _count_pages(self, job_id: str, record: dict[str, str], pages: int) -> None:
        """The job's pages against its client's daily page quota, once (not again when another replica goes on)."""
        client = record.get("client")
        if self._quotas is None or not client or record.get("pagesCounted"):
            return
        await self._quotas.count_pages(client, pages)
        await self._records.update(job_id, {"pagesCounted": "1"})

    async def _finish(self, unit: Unit, record: dict[str, str]) -> None:
        """Writes the result (JSON Lines and Markdown) from the recorded pages, in the job's order, and ends the
        job: done, or failed when pages failed and the configuration (or every page failing) says so."""
        job_id = unit.job_id
        pages = job_page_order(record)
        recorded = await self._records.pages(job_id)
        failures = await self._records.failures(job_id)
        order = [index for index in pages if index in recorded]
        if failures and (not order or self._config.jobs.fail_on_page_error):
            first = min(failures)
            await self._end(job_id, "failed", f"{len(failures)} of {len(pages)} pages failed; page {first + 1}: "
                                              f"{failures[first]}")
            return
        options = check_options(json.loads(record["options"]), self._config, self._capabilities)
        base_url = record["baseUrl"]
        results = [recorded[index] for index in order]
        if options.restructure is not None:
            results = await self._restructured(results, options, StoredDelivery(self._store, job_id, base_url))
        info = json.loads(record["dataInfo"])
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

    async def _input(self, job_id: str) -> bytes:
        stored = await self._store.get(f"{job_id}/{INPUT_NAME}")
        if stored is None:
            raise InputError("The job's file has expired from the result store before the job ran")
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
        fields = ended_fields(record, state, error)
        await self._records.end(job_id, {**fields, **(extra or {})}, notify="webhookState" in fields)
        self._metrics.ended.inc(tags={"state": state})

    async def _notify(self, unit: Unit, record: dict[str, str]) -> None:
        """Calls the job's webhook with its final status; the record says whether it got through."""
        job_id = unit.job_id
        if record.get("webhookState") != WEBHOOK_PENDING:
            return  # called already, by a replica that then died before releasing this unit
        status = job_status(job_id, record, await self._records.failures(job_id))
        body = status.model_dump_json(exclude_unset=True).encode()
        if self._webhooks is None:
            logger.warning("job %s: webhooks were turned off since it was submitted; its webhook is not called", job_id)
            delivered = False
        else:
            delivered = await self._webhooks.deliver(record["webhookUrl"], body)
        await self._records.update(job_id, {"webhookState": WEBHOOK_DELIVERED if delivered else WEBHOOK_GIVEN_UP})
