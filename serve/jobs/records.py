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
- `batch:<id>` — the ids of a batch's jobs, in submission order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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


class JobRecords:
    def __init__(self, config: JobsConfig) -> None:
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

    async def cancel(self, job_id: str, message: str, end_time: str) -> None:
        """Ends the job as failed with `message`; a replica running it stops at its next lease renewal."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key("job", job_id), mapping={"state": "failed", "errorMsg": message, "endTime": end_time})
            pipe.lrem(self._key("queue"), 0, job_id)
            await pipe.execute()

    async def get(self, job_id: str) -> dict[str, str] | None:
        fields = await self._redis.hgetall(self._key("job", job_id))
        return fields or None

    async def update(self, job_id: str, fields: Mapping[str, str]) -> None:
        await self._redis.hset(self._key("job", job_id), mapping=dict(fields))

    async def batch(self, batch_id: str) -> list[str]:
        return await self._redis.lrange(self._key("batch", batch_id), 0, -1)

    async def claim(self, runner: str) -> str | None:
        """A job for `runner` to run: first one whose replica died (its lease lapsed), else the oldest queued one."""
        for job_id in await self._redis.lrange(self._key("running"), 0, -1):
            if await self._redis.set(self._key("lease", job_id), runner, nx=True, px=self._lease_ms):
                return job_id
        job_id = await self._redis.lmove(self._key("queue"), self._key("running"), "LEFT", "RIGHT")
        if job_id is None:
            return None
        # Another replica may have seen the job in `running` before this lease was set, and leased it first.
        return job_id if await self._redis.set(self._key("lease", job_id), runner, nx=True, px=self._lease_ms) else None

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

    async def pages(self, job_id: str) -> dict[int, dict[str, Any]]:
        stored = await self._redis.hgetall(self._key("pages", job_id))
        return {int(index): json.loads(value) for index, value in stored.items()}

    async def close(self) -> None:
        await self._redis.aclose()
