"""A client that hangs up, or a request whose deadline passes, cancels its work all the way down: the VLM
server drops the request our recognition stage made for it, long before its answer could have been finished."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import cv2
import httpx
import numpy as np
import pytest

from serve.metrics import scrape_sum
from tests.service.conftest import b64

pytestmark = pytest.mark.service

# Far more than the tiny model can decode before the client hangs up, yet inside the 4096-token context. Its answers
# to the pictures below run to this limit (to some others, e.g. "hang up", it stops after ~1100 tokens).
LONG_ANSWER_TOKENS = 3500
WAIT_S = 60.0
# Long enough for the request to reach the engine, far too short for 3500 tokens on CPU.
DEADLINE_S = 2.5


def _vllm(external, metric: str, **labels: str) -> float:
    return scrape_sum(f"{external.vlm_root}/metrics", metric, **labels)


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _post_then_hang_up(url: str, body: dict, hang_up_when: Callable[[], bool]) -> None:
    """Sends the request on a raw connection and closes it, unanswered, once `hang_up_when()` holds."""
    address = urlsplit(url)
    payload = json.dumps(body).encode()
    with socket.create_connection((address.hostname, address.port)) as connection:
        connection.sendall(
            f"POST /layout-parsing HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload
        )
        _wait_for(hang_up_when)


def test_a_client_that_hangs_up_aborts_its_vlm_request(external):
    picture = np.full((120, 320, 3), 255, np.uint8)
    cv2.putText(picture, "cancel me", (20, 75), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)
    body = {"file": b64(cv2.imencode(".png", picture)[1].tobytes()), "fileType": 1, "useLayoutDetection": False,
            "maxNewTokens": LONG_ANSWER_TOKENS, "visualize": False}
    finished = _vllm(external, "vllm:request_success_total")
    generated = _vllm(external, "vllm:generation_tokens_total")
    prompted = _vllm(external, "vllm:prompt_tokens_total")

    # Hang up once the engine has read the prompt: a counter, which a slow scrape cannot miss the way it can miss
    # a moment of the running-requests gauge.
    _post_then_hang_up(external.service_url, body, lambda: _vllm(external, "vllm:prompt_tokens_total") > prompted)

    _wait_for(lambda: _vllm(external, "vllm:num_requests_running") == 0)
    # Gone from the engine without finishing (vLLM does not count client aborts among finished requests), and
    # having generated only part of what it was allowed to.
    assert _vllm(external, "vllm:request_success_total") == finished
    assert _vllm(external, "vllm:generation_tokens_total") - generated < LONG_ANSWER_TOKENS


def test_a_request_past_its_deadline_is_a_504_and_its_vlm_request_is_aborted(external):
    picture = np.full((120, 320, 3), 255, np.uint8)
    cv2.putText(picture, "too late", (20, 75), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)
    body = {"file": b64(cv2.imencode(".png", picture)[1].tobytes()), "fileType": 1, "useLayoutDetection": False,
            "maxNewTokens": LONG_ANSWER_TOKENS, "visualize": False, "logId": "deadline-1"}
    finished = _vllm(external, "vllm:request_success_total")
    generated = _vllm(external, "vllm:generation_tokens_total")
    prompted = _vllm(external, "vllm:prompt_tokens_total")

    response = httpx.post(f"{external.service_url}/layout-parsing", json=body, timeout=WAIT_S,
                          headers={"X-Request-Timeout": str(DEADLINE_S)})

    assert response.status_code == 504
    assert response.json() == {"logId": "deadline-1", "errorCode": 504, "errorMsg": response.json()["errorMsg"]}
    # The engine had started on it, and dropped it unfinished.
    _wait_for(lambda: _vllm(external, "vllm:prompt_tokens_total") > prompted)
    _wait_for(lambda: _vllm(external, "vllm:num_requests_running") == 0)
    assert _vllm(external, "vllm:request_success_total") == finished
    assert _vllm(external, "vllm:generation_tokens_total") - generated < LONG_ANSWER_TOKENS
