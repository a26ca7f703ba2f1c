"""Stage calls from the ingress: a page whose replica died is sent again, once; past that, or when the backend
itself is down, the request gets a 503 with Retry-After in the envelope."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import contextmanager

import httpx
import pytest
from ray.exceptions import ActorDiedError, RayTaskError

from serve.backends.base import BackendUnavailable
from serve.errors import StageUnavailable
from serve.stage_calls import StageCaller


class _Tally:
    """What StageCaller records into IngressMetrics (whose Ray metrics only work inside a Ray worker)."""

    def __init__(self) -> None:
        self.timed: Counter[str] = Counter()
        self.retried: Counter[str] = Counter()
        self.stage_retries = self

    def inc(self, tags: dict[str, str]) -> None:
        self.retried[tags["stage"]] += 1

    @contextmanager
    def timed_stage(self, stage: str):
        self.timed[stage] += 1
        yield


class _Response:
    """A DeploymentResponse's surface: awaitable, cancellable."""

    def __init__(self, outcome: object) -> None:
        self._outcome = outcome

    def __await__(self):
        async def result():
            if isinstance(self._outcome, BaseException):
                raise self._outcome
            return self._outcome

        return result().__await__()

    def cancel(self) -> None:
        pass


def _calls(*outcomes: object):
    remaining = list(outcomes)
    return lambda: _Response(remaining.pop(0))


def test_a_page_whose_replica_died_is_sent_again_and_answered():
    tally = _Tally()
    answer = asyncio.run(StageCaller("layout", 1, tally)(_calls(ActorDiedError(), "boxes")))
    assert answer == "boxes"
    assert tally.retried == {"layout": 1} and tally.timed == {"layout": 2}


def test_a_replica_failing_past_the_retries_makes_the_stage_unavailable():
    tally = _Tally()
    with pytest.raises(StageUnavailable, match="A recognition replica failed"):
        asyncio.run(StageCaller("recognition", 1, tally)(_calls(ActorDiedError(), ActorDiedError(), "late")))
    assert tally.retried == {"recognition": 1}


def test_a_backend_that_is_down_is_not_retried():
    tally = _Tally()
    with pytest.raises(StageUnavailable, match="engine died"):
        asyncio.run(StageCaller("recognition", 3, tally)(_calls(BackendUnavailable("engine died"), "late")))
    assert not tally.retried


def test_an_unavailable_stage_is_a_503_envelope_with_retry_after():
    from fastapi import FastAPI

    from serve.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app, retry_after_s=4)

    @app.get("/parse")
    async def parse() -> None:
        raise StageUnavailable("A layout replica failed; retry later")

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.get("/parse")

    response = asyncio.run(call())
    assert response.status_code == 503 and response.headers["Retry-After"] == "4"
    assert response.json()["errorCode"] == 503 and response.json()["errorMsg"] == "A layout replica failed; retry later"


def test_a_backend_down_in_the_replica_is_reported_by_its_own_message_not_rays_traceback():
    # What the handle raises for an exception raised in the replica: Ray's wrapper, also an instance of the cause.
    remote = RayTaskError("recognize", "Traceback (most recent call last):\n\x1b[36mray::ServeReplica\x1b[39m ...",
                          BackendUnavailable("the engine died")).as_instanceof_cause()
    with pytest.raises(StageUnavailable) as raised:
        asyncio.run(StageCaller("recognition", 3, _Tally())(_calls(remote)))
    assert str(raised.value) == "The recognition stage is unavailable: the engine died; retry later"
