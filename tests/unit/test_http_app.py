"""The ingress's HTTP app is built from the config: auth and quotas are there exactly when the config says,
and a config whose keys cannot be loaded never gets an app that answers."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from serve.admission import Admission
from serve.auth import KeyConfigError
from serve.config import ServiceConfig
from serve.http_app import ENDPOINTS, build_http_app
from serve.metrics import IngressMetrics
from serve.storage import ResultStore
from serve.storage.filesystem import FilesystemStore


class _Routes:
    """Answers every endpoint at once: what is under test is what stands in front of them."""

    async def infer(self) -> JSONResponse:
        return JSONResponse({"logId": "x", "errorCode": 0, "errorMsg": "Success"})

    async def restructure_pages(self) -> JSONResponse:
        return JSONResponse({"logId": "x", "errorCode": 0, "errorMsg": "Success"})

    async def health(self) -> JSONResponse:
        return JSONResponse({"logId": "x", "errorCode": 0, "errorMsg": "Healthy"})

    async def ready(self) -> JSONResponse:
        return JSONResponse({"logId": "x", "errorCode": 0, "errorMsg": "Ready", "result": {"stages": {}}})


def _build(config: dict, store: ResultStore | None = None) -> FastAPI:
    service = ServiceConfig.model_validate(config)
    return build_http_app(service, _Routes(), IngressMetrics(ENDPOINTS), Admission(4, 1), None, store)


def _post(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.Response:
    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.post("/layout-parsing", headers=headers or {})

    return asyncio.run(call())


def _get(app: FastAPI, url: str) -> httpx.Response:
    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.get(url)

    return asyncio.run(call())


@pytest.mark.parametrize("source", [{"keys_env": "OCRVL_TEST_UNSET_KEYS"},
                                    {"keys_env": None, "keys_file": "/nonexistent/keys"}])
def test_auth_on_with_a_broken_key_source_refuses_to_build_the_app(monkeypatch, source):
    monkeypatch.delenv("OCRVL_TEST_UNSET_KEYS", raising=False)
    with pytest.raises(KeyConfigError):
        _build({"auth": {"enabled": True, **source}})


def test_auth_on_refuses_requests_without_a_key_and_admits_a_known_one(monkeypatch):
    monkeypatch.setenv("OCRVL_TEST_KEYS", "team:k-123")
    app = _build({"auth": {"enabled": True, "keys_env": "OCRVL_TEST_KEYS"}})
    assert _post(app).status_code == 401
    assert _post(app, {"Authorization": "token wrong"}).status_code == 403
    assert _post(app, {"Authorization": "token k-123"}).status_code == 200


def test_auth_off_lets_requests_through():
    assert _post(_build({})).status_code == 200


def test_quotas_on_without_a_quota_store_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("OCRVL_TEST_KEYS", "team:k-123")
    service = ServiceConfig.model_validate({"auth": {"enabled": True, "keys_env": "OCRVL_TEST_KEYS"},
                                            "quotas": {"enabled": True, "redis_url": "redis://127.0.0.1:1"}})
    with pytest.raises(ValueError, match="quota"):
        build_http_app(service, _Routes(), IngressMetrics(ENDPOINTS), Admission(4, 1), None, None)


def test_url_delivery_without_a_result_store_is_a_configuration_error():
    with pytest.raises(ValueError, match="result store"):
        _build({"output": {"images": "url"}})


def test_a_signed_file_url_needs_no_api_key_but_the_api_still_does(monkeypatch, tmp_path):
    monkeypatch.setenv("OCRVL_TEST_KEYS", "team:k-123")
    store = FilesystemStore(tmp_path, ttl_s=60)
    asyncio.run(store.put("log/page.jpg", b"jpeg", "image/jpeg", 60))
    url = store.url("log/page.jpg", public_base_url="http://test")
    app = _build({"auth": {"enabled": True, "keys_env": "OCRVL_TEST_KEYS"}, "output": {"images": "url"}}, store)
    assert _get(app, url).content == b"jpeg"
    assert _get(app, url.replace("signature=", "signature=0")).status_code == 403
    assert _post(app).status_code == 401
