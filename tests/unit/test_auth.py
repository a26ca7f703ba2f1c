"""API keys: `token` and `Bearer` headers, 401 without a usable key, 403 with an unknown one, probes open, keys
loaded from the environment or a mounted file, and never kept in the clear."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serve.auth import CLIENT_ID, ApiKeys, AuthMiddleware, KeyConfigError, presented_key

KEYS = ApiKeys.parse("team-a:s3cret-a\nteam-b:s3cret-b, bare-key-without-id")


def _app(keys: ApiKeys | None) -> Starlette:
    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"client": getattr(request.state, CLIENT_ID, None)})

    app = Starlette(routes=[Route("/parse", whoami, methods=["POST"]), Route("/health", whoami)])
    if keys is not None:  # auth off: serve/http_app.py installs no middleware
        app.add_middleware(AuthMiddleware, keys=keys, public_paths=frozenset({"/health"}))
    return app


def _call(keys: ApiKeys | None, method: str, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=_app(keys))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, headers=headers)

    return asyncio.run(go())


@pytest.mark.parametrize("header", ["token s3cret-b", "Bearer s3cret-b", "bearer  s3cret-b "])
def test_the_paddleocr_token_scheme_and_bearer_both_name_the_client(header):
    response = _call(KEYS, "POST", "/parse", {"Authorization": header})
    assert response.status_code == 200 and response.json() == {"client": "team-b"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "token "}])
def test_no_usable_key_is_a_401_envelope_with_a_challenge(headers):
    response = _call(KEYS, "POST", "/parse", headers)
    assert response.status_code == 401
    assert response.json()["errorCode"] == 401 and response.json()["logId"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_unknown_key_is_a_403_envelope_that_does_not_echo_it():
    response = _call(KEYS, "POST", "/parse", {"Authorization": "token s3cret-c"})
    assert response.status_code == 403 and response.json()["errorMsg"] == "Invalid API key"
    assert "s3cret" not in response.text


def test_probes_need_no_key_and_auth_off_lets_everything_through():
    assert _call(KEYS, "GET", "/health").status_code == 200
    assert _call(None, "POST", "/parse").json() == {"client": None}


def test_a_bare_key_gets_an_id_from_its_hash_and_keys_are_kept_only_as_digests():
    assert KEYS.client_of("bare-key-without-id").startswith("key-")
    assert "s3cret-a" not in repr(KEYS)


def test_keys_load_from_the_environment_and_a_mounted_file(tmp_path, monkeypatch):
    secret = tmp_path / "keys"
    secret.write_text("# one client per line\nops:from-file\n")
    monkeypatch.setenv("TEST_OCRVL_KEYS", "ci:from-env")
    keys = ApiKeys.load("TEST_OCRVL_KEYS", str(secret))
    assert (keys.client_of("from-env"), keys.client_of("from-file")) == ("ci", "ops")


def test_auth_on_without_any_key_refuses_to_start(tmp_path):
    with pytest.raises(KeyConfigError, match="no API keys"):
        ApiKeys.load("TEST_OCRVL_UNSET_KEYS", None)
    with pytest.raises(KeyConfigError, match="cannot read"):
        ApiKeys.load(None, str(tmp_path / "missing"))


def test_presented_key_parsing():
    assert presented_key("Token abc") == "abc"
    assert presented_key("abc") is None
    assert presented_key(None) is None
