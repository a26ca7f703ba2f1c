"""The Job API's parts below HTTP: page ranges, option checking, the status a job record reads as, the records in a
real Redis (jobs in flight, pages, failures), webhook signatures, and the private Redis `ocrvl serve` runs."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import threading
import time

import pytest
import redis

from layout.decode import InputError
from serve.backends.base import RecognitionCapabilities
from serve.config import JobsConfig, ServiceConfig
from serve.jobs.records import FINISH, NOTIFY, OPEN, JobRecords, Unit
from serve.jobs.service import job_page_order, job_status
from serve.jobs.submission import JobRequestError, check_options, page_indices
from serve.jobs.webhooks import signature_header, verify_signature
from serve.local_redis import WATCH_INTERVAL_S, LocalRedis
from tests.programs import require_program

_prefixes = (f"test-jobs-{n}" for n in itertools.count())


@pytest.mark.parametrize(("ranges", "expected"), [
    ("1", [0]), ("2,4-6", [1, 3, 4, 5]), (" 3 - 4 , 1 ", [2, 3, 0]), ("2-3,3-4", [1, 2, 3]),
])
def test_page_ranges_are_one_based_inclusive_and_each_page_once(ranges, expected):
    assert page_indices(ranges, num_pages=10) == expected


@pytest.mark.parametrize("ranges", ["", "0", "3-1", "a", "1-", "1,,2"])
def test_a_malformed_page_range_is_refused(ranges):
    with pytest.raises(JobRequestError):
        page_indices(ranges, num_pages=None)


def test_a_range_past_the_document_is_an_input_error_of_the_job():
    with pytest.raises(InputError, match="11"):
        page_indices("9-11", num_pages=10)


def test_options_are_checked_as_layout_parsing_checks_its_fields():
    config = ServiceConfig()
    assert check_options({"visualize": False, "restructurePages": True}, config, RecognitionCapabilities()).restructure
    with pytest.raises(JobRequestError, match="topP"):
        check_options({"topP": 2}, config, RecognitionCapabilities())
    with pytest.raises(JobRequestError, match="unwarping"):
        check_options({"useDocUnwarping": True}, config, RecognitionCapabilities())


def test_a_record_reads_as_the_status_the_official_client_parses():
    pending = job_status("j", {"state": "pending", "totalPages": "0", "extractedPages": "0"}, {})
    assert pending.model_dump(exclude_unset=True) == {
        "jobId": "j", "state": "pending", "extractProgress": {"totalPages": 0, "extractedPages": 0,
                                                              "startTime": None, "endTime": None},
    }
    done = job_status("j", {"state": "done", "totalPages": "3", "extractedPages": "3", "startTime": "t0",
                            "endTime": "t1", "jsonUrl": "http://x/result.jsonl"}, {})
    assert done.resultUrl.jsonUrl == "http://x/result.jsonl" and done.extractProgress.extractedPages == 3
    failed = job_status("j", {"state": "failed", "errorMsg": "Invalid input file"}, {})
    assert failed.errorMsg == "Invalid input file" and failed.resultUrl is None


def test_the_pages_that_failed_are_listed_in_the_status_in_page_order():
    status = job_status("j", {"state": "done", "totalPages": "3", "extractedPages": "1"}, {2: "bad", 1: "worse"})
    assert [(page.pageIndex, page.errorMsg) for page in status.failedPages] == [(1, "worse"), (2, "bad")]


def test_a_jobs_page_order_follows_its_page_ranges_once_its_document_is_open():
    assert job_page_order({"totalPages": "0", "pageRanges": ""}) == []
    assert job_page_order({"totalPages": "3", "pageRanges": ""}) == [0, 1, 2]
    assert job_page_order({"totalPages": "3", "pageRanges": "5,1-2"}) == [4, 0, 1]


def _records(redis_url: str) -> JobRecords:
    return JobRecords(JobsConfig(enabled=True, redis_url=redis_url, key_prefix=next(_prefixes)))


def test_a_client_gets_no_more_jobs_in_flight_than_its_limit_and_an_ended_job_frees_its_place(redis_url):
    async def run() -> tuple[list[bool], bool, bool]:
        records = _records(redis_url)
        try:
            for job in ("a", "b", "c"):
                await records.create(job, {"state": "pending", "client": "alice"})
            admitted = [await records.admit("alice", job, limit=2) for job in ("a", "b", "c")]
            others = await records.admit("bob", "d", limit=2)
            await records.end("a", {"state": "done"}, notify=False)
            return admitted, others, await records.admit("alice", "c", limit=2)
        finally:
            await records.close()

    admitted, others, after_end = asyncio.run(run())
    assert admitted == [True, True, False] and others and after_end


def test_a_page_and_a_failure_are_each_recorded_once(redis_url):
    async def run() -> tuple[str, list, dict]:
        records = _records(redis_url)
        try:
            await records.create("j", {"state": "running", "extractedPages": "0"})
            await records.record_page("j", 0, {"n": 1})
            await records.record_page("j", 0, {"n": 2})
            await records.record_failure("j", 2, "first")
            await records.record_failure("j", 2, "second")
            count = (await records.get("j"))["extractedPages"]
            assert await records.settled("j") == {0, 2}
            return count, await records.some_pages("j", [0, 1]), await records.failures("j")
        finally:
            await records.close()

    count, pages, failures = asyncio.run(run())
    assert count == "1" and pages == [{"n": 1}, None] and failures == {2: "first"}


def test_jobs_need_a_redis_named_outside_ocrvl_serve():
    with pytest.raises(ValueError, match="jobs.redis_url"):
        JobRecords(JobsConfig(enabled=True))


def test_a_webhook_signature_verifies_only_for_its_body_secret_and_time():
    secret, body, now = b"s" * 32, b'{"jobId": "j"}', 1_800_000_000
    header = signature_header(secret, body, now)
    assert verify_signature(secret, body, header, now=now + 10)
    assert not verify_signature(secret, body + b" ", header, now=now)
    assert not verify_signature(b"t" * 32, body, header, now=now)
    assert not verify_signature(secret, body, header, now=now + 3600)
    assert not verify_signature(secret, body, "v1=deadbeef", now=now)


def test_the_private_redis_comes_back_with_its_data_after_it_is_killed(tmp_path):
    require_program("redis-server")
    server = LocalRedis(tmp_path)
    with server:
        redis.Redis.from_url(server.url).set("kept", "yes")
        stop = threading.Event()
        watcher = threading.Thread(target=server.keep_running, args=(stop,))
        watcher.start()
        try:
            os.kill(server.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10 * WATCH_INTERVAL_S
            while time.monotonic() < deadline:
                try:
                    value = redis.Redis.from_url(server.url).get("kept")
                    break
                except redis.ConnectionError:
                    time.sleep(WATCH_INTERVAL_S / 4)
        finally:
            stop.set()
            watcher.join()
    assert value == b"yes"


def test_a_jobs_work_goes_open_then_every_range_then_finish_once_and_notify_on_its_end(redis_url):
    async def run() -> list[str]:
        records = _records(redis_url)
        claimed = []
        try:
            await records.create("j", {"state": "pending", "client": "c"})
            opened = await records.claim("a")
            await records.split(opened.unit, {"totalPages": "5"}, ranges=2)
            first, second = await records.claim("a"), await records.claim("b")
            await records.range_done(second.unit, "b")
            await records.range_done(first.unit, "a")
            await records.range_done(first.unit, "a")  # a range done twice (taken over, both finished) counts once
            finish = await records.claim("a")
            await records.end("j", {"state": "done"}, notify=True)
            await records.release(finish.unit, "a")
            notify = await records.claim("b")
            claimed = [str(c.unit) for c in (opened, first, second, finish, notify)] + [str(await records.claim("a"))]
        finally:
            await records.close()
        return claimed

    assert asyncio.run(run()) == [f"j/{OPEN}", "j/0", "j/1", f"j/{FINISH}", f"j/{NOTIFY}", "None"]


def test_a_unit_whose_lease_lapsed_is_taken_over_and_its_old_holder_cannot_release_it(redis_url):
    async def run() -> tuple[bool, bool]:
        records = JobRecords(JobsConfig(enabled=True, redis_url=redis_url, key_prefix=next(_prefixes), lease_s=0.2))
        try:
            await records.create("j", {"state": "pending"})
            first = await records.claim("dead")
            await asyncio.sleep(0.3)
            second = await records.claim("alive")
            await records.release(first.unit, "dead")
            still_leased = not await records.claim("third")  # nothing to claim: "alive" holds it
            renewed = await records.renew(second.unit, "alive")
            return second.taken_over and second.unit == first.unit, still_leased and renewed
        finally:
            await records.close()

    taken_over, kept = asyncio.run(run())
    assert taken_over and kept


def test_a_unit_reads_back_from_its_text():
    assert Unit.parse("abc/3") == Unit("abc", "3") and Unit("abc", "3").range == 3
    assert Unit.parse(str(Unit("abc", FINISH))).range is None


def test_jobs_running_together_take_turns_range_by_range_and_each_finishes_as_soon_as_it_is_read(redis_url):
    async def run() -> list[str]:
        records = JobRecords(JobsConfig(enabled=True, redis_url=redis_url, key_prefix=next(_prefixes),
                                        ranges_in_flight_per_job=1))
        order = []
        try:
            for job in ("a", "b"):
                await records.create(job, {"state": "pending"})
            while (claim := await records.claim("w")) is not None:
                order.append(str(claim.unit))
                if claim.unit.part == OPEN:
                    await records.split(claim.unit, {"totalPages": "3"}, ranges=3)
                elif claim.unit.range is not None:
                    await records.range_done(claim.unit, "w")
                else:
                    await records.release(claim.unit, "w")
        finally:
            await records.close()
        return order

    assert asyncio.run(run()) == ["a/open", "b/open", "a/0", "b/0", "a/1", "b/1", "a/2", "a/finish", "b/2",
                                  "b/finish"]
