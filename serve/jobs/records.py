"""Jobs in Redis, shared by every ingress replica: any replica answers any job's status, and any replica works on
any job.

A job is worked on in units, each leased by one replica at a time (`Unit`): `open` (fetch and open the document,
count its pages, split them into ranges of `jobs.pages_per_lease`), one unit per range (read its pages), `finish`
(write the result once every range is done) and `notify` (call the job's webhook once it has ended). A unit is
queued when the one before makes it due, in the same transaction that releases that one, so nothing is lost or
queued twice when a replica dies between the two.

Keys, under the configured prefix:
- `job:<id>` — a hash: the submission (model, options, file, page ranges, batch) and the state, progress, times,
  result URL and error;
- `pages:<id>` — a hash of page index → that page's result (JSON), written once per page, so a replica taking a
  range over goes on from the pages already done, and every page is in the result exactly once;
- `failed:<id>` — a hash of page index → the error of a page that failed; the job goes on without it;
- `ranges:<id>` — the job's ranges that are done;
- `queue` — units nobody works on yet, oldest first; `running` — units some replica has leased;
- `lease:<unit>` — the leasing replica's id, expiring `lease_s` after its last renewal: a unit in `running` without
  a lease lost its replica and is taken over;
- `batch:<id>` — the ids of a batch's jobs, in submission order;
- `client:<client>` — the ids of a client's jobs that have not ended, for its limit on jobs in flight;
- `idempotency:<client>:<key>` — the job first submitted under that `Idempotency-Key`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis

from serve.config import JobsConfig

# Renews the lease only while it is still this replica's: a replica that stalled past its lease must not take the
# unit back from the one that took it over.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
# Releases a unit this replica is done with, unless another replica has taken it over meanwhile (then that one
# releases it). KEYS: lease, running. ARGV: runner, unit. The start of every script that releases a unit.
_RELEASE_IF_MINE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('LREM', KEYS[2], 0, ARGV[2])
"""
_RELEASE = _RELEASE_IF_MINE + "return 1\n"
# A range is done: released; the first time, the job's next range not yet queued goes to the back of the queue
# (so the ranges of jobs running together take turns), and once the job's last range is done its `finish` unit goes
# to the front (so a job ends as soon as its pages are read, not behind other jobs' ranges).
# KEYS: lease, running, ranges, job, queue. ARGV: runner, unit, range number, a range's unit less its number,
# ttl, the finish unit.
_RANGE_DONE = _RELEASE_IF_MINE + """
local added = redis.call('SADD', KEYS[3], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[5])
if added == 0 then return 1 end
local ranges = tonumber(redis.call('HGET', KEYS[4], 'ranges') or '-1')
local next = tonumber(redis.call('HGET', KEYS[4], 'nextRange') or '0')
if next < ranges then
  redis.call('RPUSH', KEYS[5], ARGV[4] .. next)
  redis.call('HINCRBY', KEYS[4], 'nextRange', 1)
end
if redis.call('SCARD', KEYS[3]) == ranges then redis.call('LPUSH', KEYS[5], ARGV[6]) end
return 1
"""
# A page's result, kept the first time only and then counted, so replicas recording pages of one job side by side
# keep an exact count. KEYS: pages, job. ARGV: page index, result, ttl.
_RECORD_PAGE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then redis.call('HINCRBY', KEYS[2], 'extractedPages', 1) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
"""
MILLISECONDS = 1000
OPEN = "open"
FINISH = "finish"
NOTIFY = "notify"
_SEPARATOR = "/"


@dataclass(frozen=True)
class Unit:
    """One leased piece of work on a job: `open`, a range's number, `finish` or `notify`."""

    job_id: str
    part: str

    @classmethod
    def parse(cls, text: str) -> Unit:
        job_id, _, part = text.partition(_SEPARATOR)
        return cls(job_id, part)

    def __str__(self) -> str:
        return f"{self.job_id}{_SEPARATOR}{self.part}"

    @property
    def range(self) -> int | None:
        """The range's number, for a range's unit."""
        return int(self.part) if self.part.isdigit() else None


@dataclass(frozen=True)
class Claim:
    unit: Unit
    # The unit's lease had lapsed: the replica working on it died, and this one goes on from its recorded pages.
    taken_over: bool


class JobRecords:
    def __init__(self, config: JobsConfig) -> None:
        if config.redis_url is None:
            raise ValueError(
                "jobs.redis_url is unset: `ocrvl serve` starts a private Redis on one machine; anywhere else "
                "(a cluster, `serve run`) name the Redis every replica shares"
            )
        self._config = config
        self._redis = redis.from_url(
            config.redis_url, socket_timeout=config.redis_timeout_s, socket_connect_timeout=config.redis_timeout_s,
            decode_responses=True,
        )
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)
        self._range_done = self._redis.register_script(_RANGE_DONE)
        self._record_page = self._redis.register_script(_RECORD_PAGE)
        self._lease_ms = int(config.lease_s * MILLISECONDS)

    def _key(self, *parts: str) -> str:
        return ":".join((self._config.key_prefix, *parts))

    async def create(self, job_id: str, fields: Mapping[str, str]) -> None:
        """Records a new job (fields as strings) and queues it."""
        ttl = self._config.record_ttl_s
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key("job", job_id), mapping=dict(fields))
            pipe.expire(self._key("job", job_id), ttl)
            if fields.get("batchId"):
                pipe.rpush(self._key("batch", fields["batchId"]), job_id)
                pipe.expire(self._key("batch", fields["batchId"]), ttl)
            pipe.rpush(self._key("queue"), str(Unit(job_id, OPEN)))
            await pipe.execute()

    async def remember_submission(self, client: str, idempotency_key: str, job_id: str) -> str:
        """The job first submitted under this client's `Idempotency-Key`: `job_id` if this is the first time."""
        key = self._key("idempotency", client, idempotency_key)
        if await self._redis.set(key, job_id, nx=True, ex=self._config.record_ttl_s):
            return job_id
        return await self._redis.get(key) or job_id

    async def forget_submission(self, client: str, idempotency_key: str) -> None:
        """The submission under this key was refused: the key may be used again."""
        await self._redis.delete(self._key("idempotency", client, idempotency_key))

    async def admit(self, client: str, job_id: str, limit: int) -> bool:
        """Counts the job among the client's jobs in flight, unless that would make more than `limit`."""
        key = self._key("client", client)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, job_id)
            pipe.expire(key, self._config.record_ttl_s)
            pipe.scard(key)
            *_, count = await pipe.execute()
        if count <= limit:
            return True
        # Two submissions racing for the last place may both be refused; neither gets in over the limit.
        await self._redis.srem(key, job_id)
        return False

    async def end(self, job_id: str, fields: Mapping[str, str], notify: bool) -> None:
        """Records the job's end (`state`, `endTime`, ...): it no longer counts among its client's jobs in flight,
        replicas working on it stop at their next lease renewal, and with `notify` its webhook is queued."""
        client = await self._redis.hget(self._key("job", job_id), "client") or ""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key("job", job_id), mapping=dict(fields))
            pipe.srem(self._key("client", client), job_id)
            if notify:  # to the front: the job has ended, its client is waiting to hear
                pipe.lpush(self._key("queue"), str(Unit(job_id, NOTIFY)))
            await pipe.execute()

    async def split(self, unit: Unit, fields: Mapping[str, str], ranges: int) -> None:
        """The job's document is open: records what was found (`totalPages`, ...), and queues the first of its
        `ranges` ranges (`jobs.ranges_in_flight_per_job`; each range done queues the next) in place of the `open`
        unit."""
        first = min(ranges, self._config.ranges_in_flight_per_job)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key("job", unit.job_id),
                      mapping={**fields, "ranges": str(ranges), "nextRange": str(first)})
            pipe.rpush(self._key("queue"), *(str(Unit(unit.job_id, str(n))) for n in range(first)))
            pipe.lrem(self._key("running"), 0, str(unit))
            pipe.delete(self._key("lease", str(unit)))
            await pipe.execute()

    async def range_done(self, unit: Unit, runner: str) -> None:
        """Releases a range's unit and queues what comes next (see _RANGE_DONE), once however often it is called."""
        job_id = unit.job_id
        await self._range_done(
            keys=[self._key("lease", str(unit)), self._key("running"), self._key("ranges", job_id),
                  self._key("job", job_id), self._key("queue")],
            args=[runner, str(unit), unit.part, str(Unit(job_id, "")), self._config.record_ttl_s,
                  str(Unit(job_id, FINISH))],
        )

    async def get(self, job_id: str) -> dict[str, str] | None:
        fields = await self._redis.hgetall(self._key("job", job_id))
        return fields or None

    async def update(self, job_id: str, fields: Mapping[str, str]) -> None:
        await self._redis.hset(self._key("job", job_id), mapping=dict(fields))

    async def batch(self, batch_id: str) -> list[str]:
        return await self._redis.lrange(self._key("batch", batch_id), 0, -1)

    async def claim(self, runner: str) -> Claim | None:
        """A unit for `runner`: first one whose replica died (its lease lapsed), else the oldest queued one."""
        for unit in await self._redis.lrange(self._key("running"), 0, -1):
            if await self._redis.set(self._key("lease", unit), runner, nx=True, px=self._lease_ms):
                return Claim(Unit.parse(unit), taken_over=True)
        unit = await self._redis.lmove(self._key("queue"), self._key("running"), "LEFT", "RIGHT")
        if unit is None:
            return None
        # Another replica may have seen the unit in `running` before this lease was set, and leased it first.
        if await self._redis.set(self._key("lease", unit), runner, nx=True, px=self._lease_ms):
            return Claim(Unit.parse(unit), taken_over=False)
        return None

    async def queued(self) -> int:
        return await self._redis.llen(self._key("queue"))

    async def renew(self, unit: Unit, runner: str) -> bool:
        """False when the lease is no longer `runner`'s: another replica works on the unit now."""
        return bool(await self._renew(keys=[self._key("lease", str(unit))], args=[runner, self._lease_ms]))

    async def release(self, unit: Unit, runner: str) -> None:
        """`runner` is done with the unit (unless another replica took it over meanwhile)."""
        await self._release(keys=[self._key("lease", str(unit)), self._key("running")], args=[runner, str(unit)])

    async def record_page(self, job_id: str, index: int, result: Mapping[str, Any]) -> None:
        """Keeps one page's result, once (a page recorded before is not replaced), counted in `extractedPages`."""
        await self._record_page(
            keys=[self._key("pages", job_id), self._key("job", job_id)],
            args=[str(index), json.dumps(result, ensure_ascii=False), self._config.record_ttl_s],
        )

    async def record_failure(self, job_id: str, index: int, message: str) -> None:
        """Keeps the error of a page that failed (once, like a page's result)."""
        key = self._key("failed", job_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, str(index), message)
            pipe.expire(key, self._config.record_ttl_s)
            await pipe.execute()

    async def settled(self, job_id: str) -> set[int]:
        """The indices of the job's pages recorded or failed: their results are not read, only their keys."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hkeys(self._key("pages", job_id))
            pipe.hkeys(self._key("failed", job_id))
            recorded, failed = await pipe.execute()
        return {int(index) for index in (*recorded, *failed)}

    async def pages(self, job_id: str) -> dict[int, dict[str, Any]]:
        stored = await self._redis.hgetall(self._key("pages", job_id))
        return {int(index): json.loads(value) for index, value in stored.items()}

    async def some_pages(self, job_id: str, indices: Sequence[int]) -> list[dict[str, Any] | None]:
        """The results of the pages at `indices`, None for each not recorded."""
        if not indices:
            return []
        stored = await self._redis.hmget(self._key("pages", job_id), [str(index) for index in indices])
        return [None if value is None else json.loads(value) for value in stored]

    async def failures(self, job_id: str) -> dict[int, str]:
        stored = await self._redis.hgetall(self._key("failed", job_id))
        return {int(index): message for index, message in stored.items()}

    async def close(self) -> None:
        await self._redis.aclose()
