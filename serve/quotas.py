"""Per-client quotas shared by every ingress replica through Redis: requests per minute and pages per day.

Counters are fixed windows (`INCR` + `EXPIRE` in one transaction), keyed by client and window start, so any
number of ingress replicas count into the same numbers. Requests are counted at the door, before the body is
read; pages once the document is open and its page count known, and given back if they do not fit.

When Redis cannot be reached the configured policy decides: `allow` (the default; availability over exact
accounting, and the outage is logged) or `deny` (503 with Retry-After, for deployments that bill by quota).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Container
from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from serve.auth import CLIENT_ID
from serve.config import QuotaConfig, QuotaLimits
from serve.errors import QuotaExceeded, QuotaUnavailable, send_error

logger = logging.getLogger("ocrvl.quotas")

MINUTE_S = 60
DAY_S = 86_400


@dataclass(frozen=True)
class Usage:
    """One window's count after a request, as response headers."""

    prefix: str  # "X-RateLimit" (requests per minute) or "X-PageQuota" (pages per day)
    limit: int
    used: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        remaining = max(self.limit - self.used, 0)
        return {f"{self.prefix}-Limit": str(self.limit), f"{self.prefix}-Remaining": str(remaining),
                f"{self.prefix}-Reset": str(self.reset_s)}


class Quotas:
    def __init__(self, config: QuotaConfig, retry_after_s: int) -> None:
        self._config = config
        # Told to clients while the quota store is down (policy `deny`).
        self.retry_after_s = retry_after_s
        self._redis = redis.Redis.from_url(
            config.redis_url, socket_timeout=config.redis_timeout_s, socket_connect_timeout=config.redis_timeout_s
        )

    def limits_for(self, client: str) -> QuotaLimits:
        return self._config.clients.get(client, self._config.default)

    async def count_request(self, client: str) -> Usage | None:
        """Counts one request against the client's per-minute limit; raises QuotaExceeded over it."""
        limit = self.limits_for(client).requests_per_minute
        if limit is None:
            return None
        usage = await self._count("X-RateLimit", "rpm", client, 1, limit, MINUTE_S)
        if usage is not None and usage.used > limit:
            raise QuotaExceeded(f"Rate limit of {limit} requests per minute exceeded",
                                {**usage.headers(), "Retry-After": str(usage.reset_s)})
        return usage

    async def count_pages(self, client: str, pages: int) -> Usage | None:
        """Counts a document's pages against the client's daily limit; a document that does not fit is refused
        whole and its pages given back, so a client can still send a smaller one."""
        limit = self.limits_for(client).pages_per_day
        if limit is None:
            return None
        usage = await self._count("X-PageQuota", "ppd", client, pages, limit, DAY_S)
        if usage is not None and usage.used > limit:
            await self._give_back("ppd", client, pages, DAY_S)
            left = max(limit - (usage.used - pages), 0)
            raise QuotaExceeded(f"Daily page quota exceeded: {pages} pages sent, {left} of {limit} left today",
                                {**Usage(usage.prefix, limit, usage.used - pages, usage.reset_s).headers(),
                                 "Retry-After": str(usage.reset_s)})
        return usage

    async def _count(self, prefix: str, kind: str, client: str, amount: int, limit: int, window_s: int) -> Usage | None:
        now = time.time()
        window = int(now // window_s)
        key = self._key(kind, client, window)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incrby(key, amount)
                # Twice the window: the key outlives its window a little, never forever.
                pipe.expire(key, 2 * window_s)
                used, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            return self._on_unreachable(exc)
        return Usage(prefix, limit, int(used), int((window + 1) * window_s - now) + 1)

    async def _give_back(self, kind: str, client: str, amount: int, window_s: int) -> None:
        try:
            await self._redis.decrby(self._key(kind, client, int(time.time() // window_s)), amount)
        except (RedisError, OSError) as exc:
            self._on_unreachable(exc)

    def _key(self, kind: str, client: str, window: int) -> str:
        return f"{self._config.key_prefix}:{kind}:{client}:{window}"

    def _on_unreachable(self, exc: Exception) -> None:
        if self._config.on_redis_error == "deny":
            raise QuotaUnavailable("Quota store unavailable; retry later") from exc
        logger.warning("quota store unreachable, letting the request through: %r", exc)
        return None


class QuotaMiddleware:
    """Counts every request outside `public_paths` against its client's per-minute limit (client id left by
    AuthMiddleware) with `quotas`, and tells the client where it stands in `X-RateLimit-*` headers; over the
    limit, 429 with Retry-After in the envelope. Installed only when quotas are on (serve/http_app.py)."""

    def __init__(self, app: ASGIApp, quotas: Quotas, public_paths: Container[str]) -> None:
        self.app = app
        self.quotas = quotas
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        quotas = self.quotas
        client = scope.get("state", {}).get(CLIENT_ID)
        if scope["type"] != "http" or client is None or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        try:
            usage = await quotas.count_request(client)
        except QuotaExceeded as exc:
            await send_error(send, 429, str(exc), exc.headers)
            return
        except QuotaUnavailable as exc:
            await send_error(send, 503, str(exc), {"Retry-After": str(quotas.retry_after_s)})
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in (usage.headers() if usage else {}).items()]

        async def send_with_usage(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_usage)
