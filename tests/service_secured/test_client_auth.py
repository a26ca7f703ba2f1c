"""serve/client.py against the app with API keys, Redis quotas and an S3 result store: a token is sent as a Bearer
key, a missing or wrong one is an AuthError, files come from presigned URLs (no key sent with them), and a 429 is
raised with its Retry-After, or waited out and sent again.

Runs after test_auth_and_quotas (file order), which counts key "ci"'s requests in a minute exactly: the quota tests
here use that key too, and make no assumption about how much of its minute is left."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from serve.client import AuthError, Client, InvalidRequestError, RateLimitedError, RetryPolicy
from tests.service.conftest import report_png
from tests.service_secured.conftest import KEYS, REQUESTS_PER_MINUTE

pytestmark = pytest.mark.service

# Refused as bad input at once, but counted against the request quota all the same.
NOT_AN_IMAGE = b"\x89PNG this is no PNG"
# A quota window is a minute: a Retry-After up to that is waited out.
WAIT_OUT_A_MINUTE = RetryPolicy(retries=1, max_retry_after_s=61)


@pytest.mark.parametrize(("token", "status", "message"), [(None, 401, "Missing API key"),
                                                          ("not-a-key", 403, "Invalid API key")])
def test_a_missing_or_wrong_token_is_an_auth_error_for_parsing_and_jobs(secured, token, status, message):
    with Client(secured.url, token=token) as client:
        with pytest.raises(AuthError, match=message) as parsing:
            client.parse(report_png())
        with pytest.raises(AuthError, match=message):
            client.submit(report_png())
    assert parsing.value.status == status


def test_a_token_is_sent_as_a_bearer_key_and_result_files_are_fetched_from_presigned_urls(secured):
    with Client(secured.url, token=KEYS["burst"]) as client:
        (page,) = client.parse(report_png(), visualize=True).layoutParsingResults
        assert page.outputImages and "layout_det_res" in page.outputImages
        picture = client.file(page.outputImages["layout_det_res"])
    assert not page.outputImages["layout_det_res"].startswith(secured.url)
    assert cv2.imdecode(np.frombuffer(picture, np.uint8), cv2.IMREAD_COLOR) is not None


def _use_up_the_minute(client: Client) -> RateLimitedError:
    """Sends cheap requests until the quota refuses one; whatever of the minute was left, that takes a few."""
    for _ in range(REQUESTS_PER_MINUTE + 1):
        try:
            client.parse(NOT_AN_IMAGE, file_type=1)
        except RateLimitedError as refused:
            return refused
        except InvalidRequestError:
            continue
    pytest.fail(f"no 429 within {REQUESTS_PER_MINUTE + 1} requests")


def test_over_the_quota_a_client_without_retries_gets_the_429_and_its_retry_after(secured):
    with Client(secured.url, token=KEYS["ci"], retries=0) as client:
        refused = _use_up_the_minute(client)
    assert refused.status == 429
    assert refused.message == f"Rate limit of {REQUESTS_PER_MINUTE} requests per minute exceeded"
    assert refused.retry_after_s is not None and 0 < refused.retry_after_s <= 61


def test_a_429_is_waited_out_for_its_retry_after_and_the_request_sent_again(secured):
    with Client(secured.url, token=KEYS["ci"], retries=0) as probe:
        retry_after_s = _use_up_the_minute(probe).retry_after_s
    assert retry_after_s is not None
    started = time.monotonic()
    with Client(secured.url, token=KEYS["ci"], retries=WAIT_OUT_A_MINUTE) as client:
        # Past the quota, the request gets through to the check of its file.
        with pytest.raises(InvalidRequestError):
            client.parse(NOT_AN_IMAGE, file_type=1)
    assert time.monotonic() - started >= retry_after_s - 1
