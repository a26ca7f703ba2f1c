"""The S3 store against a real S3 server (moto's standalone server, its own process), over HTTP, through the same
boto3 code that speaks to AWS S3 or MinIO in production."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest

from serve.config import StorageConfig
from serve.storage import build_store
from serve.storage.base import InvalidKey
from serve.storage.s3 import MAX_PRESIGN_S, S3Store
from tests.moto_server import use_dummy_credentials
from tests.storage.conftest import TTL_S

KEY = "0b9d7c1e-5f3a-4c2b-9e8d-1a2b3c4d5e6f/markdown_0/imgs/img_in_image_box_10_20_300_400.jpg"
PREFIX = "ocrvl/results/"
# Sweeps judge by LastModified, which the server sets: these tests wait for real seconds to pass.
SWEEP_TTL_S = 2


def run(coroutine):
    return asyncio.run(coroutine)


@pytest.fixture
def bucket(s3_endpoint, monkeypatch, tmp_path) -> str:
    use_dummy_credentials(monkeypatch, tmp_path)
    name = f"ocrvl-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3(s3_endpoint, bucket):
    """A plain client, to see the bucket as an operator would."""
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    yield client
    client.close()


@contextmanager
def _opened(endpoint: str, bucket: str, ttl_s: int = TTL_S) -> Iterator[S3Store]:
    store = S3Store(bucket, PREFIX, ttl_s, addressing_style="path", timeout_s=10, endpoint_url=endpoint)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def store(s3_endpoint, bucket) -> Iterator[S3Store]:
    with _opened(s3_endpoint, bucket) as store:
        yield store


def _listed(s3, bucket: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_an_object_round_trips_under_the_prefix_with_its_expiry_in_metadata(store, s3, bucket):
    before = time.time()
    run(store.put(KEY, b"\xff\xd8jpeg", "image/jpeg", TTL_S))
    stored = run(store.get(KEY))
    assert (stored.data, stored.content_type) == (b"\xff\xd8jpeg", "image/jpeg")
    assert before + TTL_S <= stored.expires_at <= time.time() + TTL_S + 1
    assert _listed(s3, bucket) == [PREFIX + KEY]
    head = s3.head_object(Bucket=bucket, Key=PREFIX + KEY)
    assert head["Metadata"] == {"expires-at": str(stored.expires_at)}


def test_unknown_and_deleted_objects_are_none(store):
    assert run(store.get("unknown/x.jpg")) is None
    run(store.put(KEY, b"x", "image/jpeg", TTL_S))
    run(store.delete(KEY))
    assert run(store.get(KEY)) is None
    run(store.delete(KEY))


def test_a_presigned_url_downloads_the_object_without_credentials(store, s3_endpoint, bucket):
    run(store.put(KEY, b"\xff\xd8jpeg", "image/jpeg", TTL_S))
    url = store.url(KEY, public_base_url="https://ignored.example.com")
    assert url.startswith(f"{s3_endpoint}/{bucket}/{PREFIX}{KEY}?")
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == [str(TTL_S)]
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"\xff\xd8jpeg"
    assert response.headers["content-type"] == "image/jpeg"


def test_a_url_lives_at_most_s3s_seven_days(s3_endpoint, bucket):
    with _opened(s3_endpoint, bucket, ttl_s=30 * 24 * 3600) as store:
        url = store.url(KEY, public_base_url="https://ignored.example.com")
        assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == [str(MAX_PRESIGN_S)]


def test_urls_can_be_made_for_the_endpoint_clients_reach(s3_endpoint, bucket):
    store = S3Store(bucket, PREFIX, TTL_S, addressing_style="path", timeout_s=10, endpoint_url=s3_endpoint,
                    presign_endpoint_url="https://files.example.com")
    try:
        url = store.url(KEY, public_base_url="https://ignored.example.com")
        assert url.startswith(f"https://files.example.com/{bucket}/{PREFIX}{KEY}?")
    finally:
        store.close()


def test_an_expired_object_is_none_before_any_sweep(store, s3, bucket, put_expired):
    run(put_expired(store, KEY))
    assert run(store.get(KEY)) is None
    assert _listed(s3, bucket) == [PREFIX + KEY]


def test_an_object_without_the_stores_metadata_is_not_served(store, s3, bucket):
    s3.put_object(Bucket=bucket, Key=PREFIX + KEY, Body=b"foreign", ContentType="image/jpeg")
    assert run(store.get(KEY)) is None


def test_the_sweep_deletes_what_outlived_the_ttl_under_the_prefix_only(s3_endpoint, s3, bucket):
    with _opened(s3_endpoint, bucket, ttl_s=SWEEP_TTL_S) as store:
        run(store.put("old/layout_det_res_0.jpg", b"old", "image/jpeg", SWEEP_TTL_S))
        s3.put_object(Bucket=bucket, Key="elsewhere/old.jpg", Body=b"not ours")
        time.sleep(SWEEP_TTL_S + 1.5)
        run(store.put("fresh/layout_det_res_0.jpg", b"new", "image/jpeg", SWEEP_TTL_S))
        assert run(store.get("old/layout_det_res_0.jpg")) is None
        assert run(store.sweep_expired()) == 1
        assert sorted(_listed(s3, bucket)) == ["elsewhere/old.jpg", PREFIX + "fresh/layout_det_res_0.jpg"]
        assert run(store.sweep_expired()) == 0


def test_build_store_makes_the_configured_s3_store(s3_endpoint, s3, bucket):
    config = StorageConfig.model_validate({"backend": "s3", "s3": {
        "bucket": bucket, "prefix": "other/", "endpoint_url": s3_endpoint, "addressing_style": "path"}})
    store = build_store(config)
    try:
        assert isinstance(store, S3Store)
        run(store.put(KEY, b"x", "image/jpeg", config.ttl_s))
        assert _listed(s3, bucket) == ["other/" + KEY]
    finally:
        store.close()


def test_invalid_keys_never_reach_the_bucket(store, s3, bucket):
    for key in ("../x.jpg", "/x.jpg", "a//b.jpg"):
        with pytest.raises(InvalidKey):
            run(store.put(key, b"x", "image/jpeg", TTL_S))
    assert _listed(s3, bucket) == []


def test_an_empty_or_unsafe_prefix_is_refused(s3_endpoint, bucket):
    for prefix in ("", "/", "../x/"):
        with pytest.raises(InvalidKey):
            S3Store(bucket, prefix, TTL_S, addressing_style="path", timeout_s=10, endpoint_url=s3_endpoint)
