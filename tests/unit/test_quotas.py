"""Per-client quotas against a real redis-server: limits, the headers that tell where a client stands, one count
shared by every replica, whole documents refused and given back, and both policies when Redis is down."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serve.auth import ApiKeys, AuthMiddleware
from serve.cli import free_port
from serve.config import QuotaConfig, QuotaLimits
from serve.errors import QuotaExceeded, QuotaUnavailable
from serve.quotas import QuotaMiddleware, Quotas

RETRY_AFTER_S = 3
prefixes = (f"test{n}" for n in itertools.count())


def _config(redis_url: str, **fields) -> QuotaConfig:
    # A fresh key prefix per test: the server is shared by the session.
    return QuotaConfig(enabled=True, redis_url=redis_url, key_prefix=next(prefixes), **fields)


def _run(coroutine):
    return asyncio.run(coroutine)


def test_requests_past_the_per_minute_limit_are_refused_with_where_the_client_stands(redis_url):
    quotas = Quotas(_config(redis_url, default=QuotaLimits(requests_per_minute=3)), RETRY_AFTER_S)

    async def scenario():
        remaining = [(await quotas.count_request("a")).headers()["X-RateLimit-Remaining"] for _ in range(3)]
        with pytest.raises(QuotaExceeded) as refused:
            await quotas.count_request("a")
        return remaining, refused.value.headers

    remaining, headers = _run(scenario())
    assert remaining == ["2", "1", "0"]
    assert headers["X-RateLimit-Limit"] == "3" and headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(headers["Retry-After"]) <= 61 and headers["Retry-After"] == headers["X-RateLimit-Reset"]


def test_every_replica_counts_into_the_same_quota_and_clients_are_counted_apart(redis_url):
    config = _config(redis_url, default=QuotaLimits(requests_per_minute=4),
                     clients={"big": QuotaLimits(requests_per_minute=100)})
    replicas = [Quotas(config, RETRY_AFTER_S), Quotas(config, RETRY_AFTER_S)]

    async def scenario():
        for replica in replicas * 2:
            await replica.count_request("a")
        with pytest.raises(QuotaExceeded):
            await replicas[1].count_request("a")
        return (await replicas[0].count_request("b")).used, (await replicas[0].count_request("big")).limit

    assert _run(scenario()) == (1, 100)


def test_a_document_over_the_daily_page_quota_is_refused_whole_and_its_pages_given_back(redis_url):
    quotas = Quotas(_config(redis_url, default=QuotaLimits(pages_per_day=10)), RETRY_AFTER_S)

    async def scenario():
        first = await quotas.count_pages("a", 6)
        with pytest.raises(QuotaExceeded) as refused:
            await quotas.count_pages("a", 5)
        last = await quotas.count_pages("a", 4)
        return first.headers(), refused.value, last.headers()

    first, refused, last = _run(scenario())
    assert first["X-PageQuota-Remaining"] == "4"
    assert "5 pages sent, 4 of 10 left today" in str(refused)
    assert refused.headers["X-PageQuota-Remaining"] == "4" and int(refused.headers["Retry-After"]) <= 86_401
    assert last["X-PageQuota-Remaining"] == "0"


def test_no_limit_configured_counts_nothing(redis_url):
    quotas = Quotas(_config(redis_url), RETRY_AFTER_S)
    assert _run(quotas.count_request("a")) is None and _run(quotas.count_pages("a", 1000)) is None


@pytest.mark.parametrize("policy", ["allow", "deny"])
def test_with_redis_down_the_policy_decides(policy):
    config = QuotaConfig(enabled=True, redis_url=f"redis://127.0.0.1:{free_port()}/0", on_redis_error=policy,
                         default=QuotaLimits(requests_per_minute=1))
    quotas = Quotas(config, RETRY_AFTER_S)
    if policy == "allow":
        assert _run(quotas.count_request("a")) is None
    else:
        with pytest.raises(QuotaUnavailable):
            _run(quotas.count_request("a"))


def test_over_http_the_limit_is_a_429_envelope_and_answers_carry_the_rate_limit_headers(redis_url):
    async def parse(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/parse", parse, methods=["POST"]), Route("/health", parse)])
    quotas = Quotas(_config(redis_url, default=QuotaLimits(requests_per_minute=1)), RETRY_AFTER_S)
    app.add_middleware(QuotaMiddleware, quotas=quotas, public_paths=frozenset({"/health"}))
    app.add_middleware(AuthMiddleware, keys=ApiKeys.parse("team-a:key-a"), public_paths=frozenset({"/health"}))

    async def calls():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                     headers={"Authorization": "token key-a"}) as client:
            return [await client.post("/parse"), await client.post("/parse"), await client.get("/health")]

    allowed, refused, probe = _run(calls())
    assert allowed.status_code == 200 and allowed.headers["X-RateLimit-Remaining"] == "0"
    assert refused.status_code == 429 and refused.json()["errorCode"] == 429
    assert refused.headers["Retry-After"] == refused.headers["X-RateLimit-Reset"]
    assert probe.status_code == 200 and "X-RateLimit-Limit" not in probe.headers
