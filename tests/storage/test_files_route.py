"""`GET /files/{key}` through a real HTTP server (uvicorn) with the service's error handlers: signed URLs download,
anything forged, expired or outside the root is answered in the error envelope and never with a file."""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from serve.cli import free_port
from serve.errors import install_error_handlers
from serve.storage.filesystem import FILES_PATH, FilesystemStore
from serve.storage.http import files_router
from tests.storage.conftest import TTL_S

KEY = "0b9d7c1e-5f3a-4c2b-9e8d-1a2b3c4d5e6f/markdown_0/imgs/img_in_image_box_10_20_300_400.jpg"
SECRET = b"outside the root"
START_TIMEOUT_S = 10


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)


@pytest.fixture
def store(fs_store: FilesystemStore) -> FilesystemStore:
    # A file beside the root, and one object, for every test.
    (fs_store.root.parent / "secret.txt").write_bytes(SECRET)
    asyncio.run(fs_store.put(KEY, b"\xff\xd8jpeg", "image/jpeg", TTL_S))
    return fs_store


@pytest.fixture
def base_url(store: FilesystemStore) -> Iterator[str]:
    app = FastAPI()
    install_error_handlers(app, retry_after_s=1)
    app.include_router(files_router(store))
    with serving(app) as url:
        yield url


def _assert_envelope(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    body = response.json()
    assert body["errorCode"] == status and body["errorMsg"] and body["logId"]


def _signed(store: FilesystemStore, key: str, expires: int) -> str:
    return f"{FILES_PATH}/{key}?expires={expires}&signature={store.signer.signature(key, expires)}"


def test_a_signed_url_downloads_the_object_with_its_content_type(store, base_url):
    response = httpx.get(store.url(KEY, public_base_url=base_url))
    assert response.status_code == 200
    assert response.content == b"\xff\xd8jpeg"
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-content-type-options"] == "nosniff"
    directive, max_age = response.headers["cache-control"].split(", max-age=")
    assert directive == "private" and TTL_S - 2 <= int(max_age) <= TTL_S


def test_a_url_made_by_another_replica_on_the_same_root_downloads(store, base_url):
    replica = FilesystemStore(store.root, TTL_S, signing_key_env=None)
    assert httpx.get(replica.url(KEY, public_base_url=base_url)).content == b"\xff\xd8jpeg"


@pytest.mark.parametrize("tamper", ["signature", "expires", "key", "missing_signature", "missing_expires"])
def test_a_forged_or_tampered_url_is_forbidden(store, base_url, tamper):
    url = httpx.URL(store.url(KEY, public_base_url=base_url))
    params = dict(url.params)
    if tamper == "signature":
        params["signature"] = ("0" if params["signature"][0] != "0" else "1") + params["signature"][1:]
    elif tamper == "expires":
        params["expires"] = str(int(params["expires"]) + 1)
    elif tamper == "key":
        # Another object that exists: the signature names one object only.
        other = KEY.replace("10_20", "11_20")
        asyncio.run(store.put(other, b"other", "image/jpeg", TTL_S))
        url = url.copy_with(path=f"{FILES_PATH}/{other}")
    else:
        del params[tamper.removeprefix("missing_")]
    _assert_envelope(httpx.get(url.copy_with(params=params)), 403)


def test_an_expired_url_is_forbidden(store, base_url):
    _assert_envelope(httpx.get(base_url + _signed(store, KEY, int(time.time()) - 1)), 403)


def test_a_signed_url_to_an_unknown_object_is_not_found(store, base_url):
    _assert_envelope(httpx.get(store.url("unknown/x.jpg", public_base_url=base_url)), 404)


def test_a_signed_url_to_an_expired_object_is_not_found(store, base_url, put_expired):
    asyncio.run(put_expired(store, "old/layout_det_res_0.jpg"))
    _assert_envelope(httpx.get(store.url("old/layout_det_res_0.jpg", public_base_url=base_url)), 404)


def test_a_signed_url_through_a_planted_symlink_is_not_found(store, base_url):
    (store.root / "evil").symlink_to(store.root.parent)
    _assert_envelope(httpx.get(store.url("evil/secret.txt", public_base_url=base_url)), 404)


TRAVERSALS = [
    "/files/../secret.txt",
    "/files/../../etc/passwd",
    "/files/..%2Fsecret.txt",
    "/files/..%2F..%2Fetc%2Fpasswd",
    "/files/%2e%2e/secret.txt",
    "/files/%2E%2E%2Fsecret.txt",
    "/files/%2Fetc%2Fpasswd",
    "/files//etc/passwd",
    "/files/log/..\\..\\secret.txt",
    "/files/log%5C..%5C..%5Csecret.txt",
    "/files/.url-signing-key",
    "/files/%2eurl-signing-key",
    "/files/log/%00.jpg",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_path_leads_outside_the_root_even_with_a_valid_signature(store, base_url, path):
    # Signed for the key as the server decodes it, as an attacker holding the signing key could: still refused.
    key = unquote(path.removeprefix(FILES_PATH + "/"))
    expires = int(time.time()) + TTL_S
    for query in ("", f"?expires={expires}&signature={store.signer.signature(key, expires)}"):
        # http.client sends the path byte for byte: no client-side normalisation of `..` or `%2F`.
        host = urlsplit(base_url)
        connection = http.client.HTTPConnection(host.hostname, host.port, timeout=START_TIMEOUT_S)
        connection.request("GET", path + query)
        response = connection.getresponse()
        body = response.read()
        connection.close()
        assert response.status in (403, 404), (path, response.status)
        assert SECRET not in body and b"root:" not in body
        assert response.getheader("content-type") == "application/json"
