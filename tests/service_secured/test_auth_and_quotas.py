"""The embedded app with API keys and Redis quotas on, and its files in an S3 bucket, behind two ingress replicas:
keys are checked, the quota is one count for the whole service, a document over the page quota is refused whole,
keys never reach the logs, and the files either replica stored are GETs of presigned URLs into the bucket (a real
moto S3 server, spoken to over HTTP by the production client code)."""

from __future__ import annotations

import time

import boto3
import cv2
import httpx
import numpy as np
import pytest

from tests.service.conftest import b64, blank_pdf, report_png
from tests.service_secured.conftest import BUCKET, KEYS, REQUESTS_PER_MINUTE

pytestmark = pytest.mark.service

def _pdf(pages: int) -> dict:
    return {"file": b64(blank_pdf(pages)), "fileType": 0, "visualize": False}


def test_no_key_is_401_a_wrong_key_403_and_probes_stay_open(secured):
    missing = secured.post(None, {"file": b64(report_png())})
    assert missing.status_code == 401 and missing.json()["errorCode"] == 401
    wrong = httpx.post(f"{secured.url}/layout-parsing", json={"file": b64(report_png())},
                       headers={"Authorization": "Bearer not-a-key"}, timeout=60)
    assert wrong.status_code == 403 and wrong.json()["errorMsg"] == "Invalid API key"
    assert httpx.get(f"{secured.url}/health/ready", timeout=60).status_code == 200


def test_the_request_quota_is_one_count_across_ingress_replicas(secured):
    # The windows are whole minutes: keep the burst inside one.
    while time.time() % 60 > 55:
        time.sleep(0.5)
    # Cheap requests (refused as bad input) still count: a quota is on requests, not on successes.
    answers = [secured.post("ci", {"file": "bm90IGEgZmlsZQ==", "fileType": 1}) for _ in range(REQUESTS_PER_MINUTE + 2)]
    assert [a.status_code for a in answers] == [422] * REQUESTS_PER_MINUTE + [429] * 2
    assert [a.headers["X-RateLimit-Remaining"] for a in answers[:REQUESTS_PER_MINUTE]] == ["3", "2", "1", "0"]
    refused = answers[-1]
    assert refused.json()["errorCode"] == 429 and refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["Retry-After"]) <= 61


def test_a_document_over_the_page_quota_is_refused_whole(secured):
    first = secured.post("pages", _pdf(2))
    assert first.status_code == 200
    assert first.headers["X-PageQuota-Remaining"] == "1"
    over = secured.post("pages", _pdf(2))
    assert over.status_code == 429 and "2 pages sent, 1 of 3 left today" in over.json()["errorMsg"]
    assert secured.post("pages", _pdf(1)).status_code == 200


def test_keys_never_reach_the_logs(secured):
    log = secured.log.read_text()
    assert all(key not in log for key in KEYS.values())


def test_files_go_to_the_bucket_and_any_client_gets_them_by_their_presigned_urls(secured, s3_endpoint):
    # Each of two requests may land on either ingress replica; every URL resolves, with no key and no replica.
    answers = [secured.post("files", {"file": b64(report_png()), "fileType": 1}).json() for _ in range(2)]
    pages = [answer["result"]["layoutParsingResults"][0] for answer in answers]
    urls = [url for page in pages for url in (page["inputImage"], *page["outputImages"].values())]
    assert len(urls) == 4
    for url in urls:
        assert url.startswith(f"{s3_endpoint}/{BUCKET}/") and "Signature=" in url
        download = httpx.get(url, timeout=60)
        assert download.status_code == 200
        assert cv2.imdecode(np.frombuffer(download.content, np.uint8), cv2.IMREAD_COLOR) is not None
    stored = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=BUCKET)["KeyCount"]
    assert stored >= 4
