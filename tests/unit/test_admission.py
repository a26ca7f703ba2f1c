"""Load shedding on bare ASGI apps: over the admission limit is a 429 envelope with Retry-After, before the body
is read; draining is a 503; other paths are never limited; a full stage queue is a 503, a passed deadline a 504."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serve.admission import Admission, AdmissionMiddleware


def _app(admission: Admission, release: asyncio.Event) -> Starlette:
    async def parse(request: Request) -> JSONResponse:
        await release.wait()
        return JSONResponse({"bytes": len(await request.body())})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/parse", parse, methods=["POST"]), Route("/health", health)])
    app.add_middleware(AdmissionMiddleware, admission=admission, paths=frozenset({"/parse"}))
    return app


async def _scenario(admission: Admission) -> tuple[list[httpx.Response], httpx.Response, int]:
    release = asyncio.Event()
    transport = httpx.ASGITransport(app=_app(admission, release))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        admitted = [asyncio.create_task(client.post("/parse", content=b"x" * 10)) for _ in range(admission.limit)]
        while admission.in_flight < admission.limit:
            await asyncio.sleep(0.001)
        refused = await client.post("/parse", content=b"y")
        health = await client.get("/health")
        release.set()
        done = await asyncio.gather(*admitted)
    return [*done, refused], health, admission.in_flight


def test_the_request_over_the_limit_gets_429_with_retry_after_and_the_admitted_ones_finish():
    responses, _, _ = asyncio.run(_scenario(Admission(limit=2, retry_after_s=3)))
    *admitted, refused = responses
    assert [r.status_code for r in admitted] == [200, 200]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "3"
    body = refused.json()
    assert body["errorCode"] == 429 and "retry after 3 s" in body["errorMsg"] and body["logId"]


def test_other_paths_are_not_limited_and_every_slot_is_given_back():
    _, health, in_flight_after = asyncio.run(_scenario(Admission(limit=1, retry_after_s=1)))
    assert health.status_code == 200
    assert in_flight_after == 0


def test_a_draining_replica_refuses_new_requests_with_503():
    admission = Admission(limit=4, retry_after_s=5)
    admission.draining = True
    assert admission.refusal() == (503, "Shutting down; retry after 5 s")
    assert admission.in_flight == 0


def test_a_full_stage_queue_and_a_passed_deadline_are_answered_in_the_envelope():
    from fastapi import FastAPI
    from ray.serve.exceptions import BackPressureError

    from serve.errors import DeadlineExceeded, install_error_handlers

    app = FastAPI()
    install_error_handlers(app, retry_after_s=7)

    @app.get("/full")
    async def full() -> None:
        raise BackPressureError(num_queued_requests=64, max_queued_requests=64)

    @app.get("/late")
    async def late() -> None:
        raise DeadlineExceeded("Deadline of 1 s exceeded; the request was cancelled")

    async def calls() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/full"), await client.get("/late")

    full_response, late_response = asyncio.run(calls())
    assert full_response.status_code == 503 and full_response.headers["Retry-After"] == "7"
    assert full_response.json()["errorCode"] == 503
    assert late_response.status_code == 504
    assert late_response.json()["errorMsg"] == "Deadline of 1 s exceeded; the request was cancelled"


def _body_limited_app(limit: int) -> Starlette:
    from fastapi import FastAPI

    from serve.body_limit import BodyLimitMiddleware
    from serve.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app, retry_after_s=1)

    @app.post("/parse")
    async def parse(request: Request) -> dict:
        return {"bytes": len(await request.body())}

    app.add_middleware(BodyLimitMiddleware, limit=limit)
    return app


def test_a_body_over_the_cap_is_a_413_envelope_whether_declared_or_streamed():
    async def chunks():
        for _ in range(10):
            yield b"x" * 100

    async def calls() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=_body_limited_app(limit=500))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.post("/parse", content=b"y" * 400), await client.post("/parse", content=b"y" * 501),
                    await client.post("/parse", content=chunks())]

    within, declared, streamed = asyncio.run(calls())
    assert within.json() == {"bytes": 400}
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["errorCode"] == 413 and response.json()["errorMsg"] == "Request body exceeds 500 bytes"
