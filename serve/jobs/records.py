"""Jobs in Redis, shared by every ingress replica: any replica answers any job's status, and any replica can run
any job.

Keys, under the configured prefix:
- `job:<id>` — a hash: the submission (model, options, file, page ranges, batch) and the state, progress, times,
  result URL and error;
- `pages:<id>` — a hash of page index → that page's result (JSON), written once per page, so a replica taking a job
  over goes on from the pages already done, and every page is in the result exactly once;
- `queue` — ids of jobs nobody runs yet; `running` — ids of jobs some replica has leased;
- `lease:<id>` — the leasing replica's id, expiring `lease_s` after its last renewal: a job in `running` without a
  lease lost its replica and is taken over;
- `failed:<id>` — a hash of page index → the error of a page that failed; the job goes on without it;
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
# job back from the one that took it over.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
MILLISECONDS = 1000


@dataclass(frozen=True)
class Claim:
    job_id: str
    # The job's lease had lapsed: the replica that ran it died, and this one goes on from its recorded pages.
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
            pipe.rpush(self._key("queue"), job_id)
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

    async def end(self, job_id: str, fields: Mapping[str, str]) -> None:
        """Records the job's end (`state`, `endTime`, ...): it no longer counts among its client's jobs in flight.
        A replica running it stops at its next lease renewal; a queued one is still claimed once, to be finished
        (its webhook called) and released."""
        client = await self._redis.hget(self._key("job", job_id), "client") or ""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key("job", job_id), mapping=dict(fields))
            pipe.srem(self._key("client", client), job_id)
            await pipe.execute()

    async def get(self, job_id: str) -> dict[str, str] | None:
        fields = await self._redis.hgetall(self._key("job", job_id))
        return fields or None

    async def update(self, job_id: str, fields: Mapping[str, str]) -> None:
        await self._redis.hset(self._key("job", job_id), mapping=dict(fields))

    async def batch(self, batch_id: str) -> list[str]:
        return await self._redis.lrange(self._key("batch", batch_id), 0, -1)

    async def claim(self, runner: str) -> Claim | None:
        """A job for `runner` to run: first one whose replica died (its lease lapsed), else the oldest queued one."""
        for job_id in await self._redis.lrange(self._key("running"), 0, -1):
            if await self._redis.set(self._key("lease", job_id), runner, nx=True, px=self._lease_ms):
                return Claim(job_id, taken_over=True)
        job_id = await self._redis.lmove(self._key("queue"), self._key("running"), "LEFT", "RIGHT")
        if job_id is None:
            return None
        # Another replica may have seen the job in `running` before this lease was set, and leased it first.
        if await self._redis.set(self._key("lease", job_id), runner, nx=True, px=self._lease_ms):
            return Claim(job_id, taken_over=False)
        return None

    async def queued(self) -> int:
        return await self._redis.llen(self._key("queue"))

    async def renew(self, job_id: str, runner: str) -> bool:
        """False when the lease is no longer `runner`'s: another replica runs the job now."""
        return bool(await self._renew(keys=[self._key("lease", job_id)], args=[runner, self._lease_ms]))

    async def release(self, job_id: str) -> None:
        """The job has ended: nobody runs it any more."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lrem(self._key("running"), 0, job_id)
            pipe.delete(self._key("lease", job_id))
            await pipe.execute()

    async def record_page(self, job_id: str, index: int, result: Mapping[str, Any]) -> int:
        """Keeps one page's result (once: a page recorded before is not replaced) and returns how many are kept."""
        key = self._key("pages", job_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, str(index), json.dumps(result, ensure_ascii=False))
            pipe.expire(key, self._config.record_ttl_s)
            pipe.hlen(key)
            *_, count = await pipe.execute()
        return int(count)

    async def record_failure(self, job_id: str, index: int, message: str) -> None:
        """Keeps the error of a page that failed (once, like a page's result)."""
        key = self._key("failed", job_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, str(index), message)
            pipe.expire(key, self._config.record_ttl_s)
            await pipe.execute()

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
