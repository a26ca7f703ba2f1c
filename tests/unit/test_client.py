"""serve/client.py without a server: options checked and named as the contract names them, sources turned into what
the server takes, every failure mapped to its error class, when a call is sent again, and no Ray in the import."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from serve import client as ocrvl
from serve.cli import free_port
from serve.client import (
    AsyncClient,
    AuthError,
    Client,
    ConnectionFailedError,
    DeadlineError,
    Document,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    UnavailableError,
    error_from_response,
    wire_options,
)
from serve.protocol import LayoutParsingResult

REPO = Path(__file__).resolve().parents[2]
FAST = RetryPolicy(retries=2, backoff_s=0.01, max_backoff_s=0.02)


def test_importing_the_client_imports_no_ray():
    check = "import serve.client, sys; assert not any(m == 'ray' or m.startswith('ray.') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", check], cwd=REPO, check=True)


def test_the_client_uses_the_servers_own_paths_and_headers():
    from serve.http_app import JOBS_PATH, PARSE_PATH
    from serve.ingress import NDJSON, TIMEOUT_HEADER
    from serve.jobs.service import IDEMPOTENCY_HEADER

    assert (ocrvl.PARSE_PATH, ocrvl.JOBS_PATH) == (PARSE_PATH, JOBS_PATH)
    client_headers = (ocrvl.NDJSON, ocrvl.TIMEOUT_HEADER, ocrvl.IDEMPOTENCY_HEADER)
    assert client_headers == (NDJSON, TIMEOUT_HEADER, IDEMPOTENCY_HEADER)


def test_options_in_snake_case_or_wire_camel_case_become_the_same_wire_fields():
    snake = wire_options({"use_layout_detection": False, "top_p": 0.5, "log_id": "abc", "file_type": 0})
    camel = wire_options({"useLayoutDetection": False, "topP": 0.5, "logId": "abc", "fileType": 0})
    assert snake == camel == {"useLayoutDetection": False, "topP": 0.5, "logId": "abc", "fileType": 0}


def test_only_the_options_given_are_sent_as_json_values():
    assert wire_options({}) == {}
    assert wire_options({"layout_unclip_ratio": (1.0, 1.2)}) == {"layoutUnclipRatio": [1.0, 1.2]}


def test_a_misspelt_option_is_refused_before_sending_with_the_name_it_resembles():
    with pytest.raises(InvalidRequestError, match="Unknown option 'use_layout_detecton'; did you mean "
                                                  "'use_layout_detection'") as caught:
        wire_options({"use_layout_detecton": False})
    assert caught.value.status is None


def test_the_document_is_not_an_option():
    with pytest.raises(InvalidRequestError, match="Unknown option 'file'"):
        wire_options({"file": "x"})


def test_one_option_under_both_names_is_refused():
    with pytest.raises(InvalidRequestError, match="'topP' given twice"):
        wire_options({"topP": 0.5, "top_p": 0.6})


@pytest.mark.parametrize(("options", "field"), [({"top_p": 2}, "topP"), ({"layoutThreshold": {"text": 1.5}},
                                                                           "layoutThreshold"),
                                                ({"min_pixels": 10, "max_pixels": 5}, "minPixels must be <= maxPixels"),
                                                ({"output_formats": ["pdf"]}, "outputFormats")])
def test_a_value_the_contract_refuses_is_refused_before_sending(options, field):
    with pytest.raises(InvalidRequestError, match=field):
        wire_options(options)


def test_bytes_are_sent_as_base64_and_a_url_as_itself(tmp_path):
    assert Document.of(b"%PDF-1.7").as_file_field() == base64.b64encode(b"%PDF-1.7").decode()
    url = "https://example.com/report.pdf"
    assert Document.of(url) == Document(url=url) and Document.of(url).as_file_field() == url


@pytest.mark.parametrize("as_str", [True, False])
def test_a_path_is_read_and_uploaded_under_its_name(tmp_path, as_str):
    path = tmp_path / "scan.png"
    path.write_bytes(b"\x89PNG...")
    assert Document.of(str(path) if as_str else path) == Document(data=b"\x89PNG...", name="scan.png")


def test_a_missing_path_fails_locally():
    with pytest.raises(FileNotFoundError):
        Document.of("no/such/report.pdf")


def _refusal(status: int, message: str = "the server's words", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"logId": "log-1", "errorCode": status, "errorMsg": message}, headers=headers)


@pytest.mark.parametrize(("status", "kind"), [(400, InvalidRequestError), (401, AuthError), (403, AuthError),
                                              (404, NotFoundError), (413, InvalidRequestError),
                                              (422, InvalidRequestError), (429, RateLimitedError),
                                              (500, ServerError), (502, ServerError), (503, UnavailableError),
                                              (504, DeadlineError)])
def test_each_status_maps_to_its_error_class_with_the_servers_message_and_log_id(status, kind):
    error = error_from_response(_refusal(status))
    assert type(error) is kind
    assert (error.status, error.message, error.log_id) == (status, "the server's words", "log-1")
    assert str(error) == f"the server's words (HTTP {status}, logId log-1)"


def test_retry_after_is_read_in_seconds_or_as_a_date():
    assert error_from_response(_refusal(429, headers={"Retry-After": "7"})).retry_after_s == 7
    in_a_minute = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=60), usegmt=True)
    assert 55 < error_from_response(_refusal(503, headers={"Retry-After": in_a_minute})).retry_after_s <= 60


def test_an_answer_outside_the_envelope_keeps_its_text_as_the_message():
    error = error_from_response(httpx.Response(502, text="upstream connect error"))
    assert type(error) is ServerError and error.message == "upstream connect error" and error.log_id is None


def test_429_503_and_connection_failures_are_retried_with_doubling_waits_until_the_retries_are_spent():
    policy = RetryPolicy(retries=3, backoff_s=0.5, max_backoff_s=1.5)
    for error in (RateLimitedError(429, "x"), UnavailableError(503, "x"), ConnectionFailedError(None, "x")):
        assert [policy.delay_s(attempt, error) for attempt in range(4)] == [0.5, 1.0, 1.5, None]


def test_retry_after_is_waited_for_unless_it_is_longer_than_the_cap():
    policy = RetryPolicy(max_retry_after_s=30)
    assert policy.delay_s(0, RateLimitedError(429, "x", retry_after_s=12)) == 12
    assert policy.delay_s(0, RateLimitedError(429, "x", retry_after_s=31)) is None


@pytest.mark.parametrize("error", [InvalidRequestError(422, "x"), AuthError(401, "x"), ServerError(500, "x"),
                                   DeadlineError(504, "x"), NotFoundError(404, "x")])
def test_other_failures_are_never_retried(error):
    assert RetryPolicy().delay_s(0, error) is None


def _page_json(markdown: str, images: dict[str, str]) -> dict:
    """A page result as the server writes it, with nothing on the page but its Markdown."""
    settings = dict.fromkeys(["use_doc_preprocessor", "use_layout_detection", "use_chart_recognition",
                              "use_seal_recognition", "use_ocr_for_image_block", "format_block_content",
                              "merge_layout_blocks", "return_layout_polygon_points"], False)
    return {"prunedResult": {"page_count": None, "width": 1, "height": 1, "parsing_res_list": [],
                             "model_settings": {**settings, "markdown_ignore_labels": []}},
            "markdown": {"text": markdown, "images": images}}


def _page_with_images(images: dict[str, str]) -> LayoutParsingResult:
    return LayoutParsingResult.model_validate(_page_json("![](imgs/a.jpg)", images))


def test_a_streamed_answer_yields_pages_ends_at_a_success_envelope_and_raises_an_error_envelope():
    page = _page_json("# Title", {})
    streamed = ocrvl._streamed_line(json.dumps({"pageIndex": 3, "result": page}))
    assert streamed is not None and streamed.index == 3 and streamed.result.markdown.text == "# Title"
    assert ocrvl._streamed_line(json.dumps({"logId": "l", "errorCode": 0, "errorMsg": "Success",
                                            "result": {"dataInfo": {}}})) is None
    with pytest.raises(DeadlineError, match="Deadline of 3 s exceeded") as caught:
        ocrvl._streamed_line(json.dumps({"logId": "l", "errorCode": 504, "errorMsg": "Deadline of 3 s exceeded"}))
    assert caught.value.status == 504 and caught.value.log_id == "l"


def test_save_markdown_writes_the_page_and_its_inline_pictures_where_the_markdown_links_them(tmp_path):
    page = _page_with_images({"imgs/a.jpg": base64.b64encode(b"jpeg bytes").decode()})
    with Client() as client:
        markdown = client.save_markdown(page, tmp_path / "page_0")
    assert markdown == tmp_path / "page_0" / "page.md" and markdown.read_text() == "![](imgs/a.jpg)"
    assert (tmp_path / "page_0" / "imgs" / "a.jpg").read_bytes() == b"jpeg bytes"


def test_save_markdown_refuses_a_picture_name_that_leaves_the_directory(tmp_path):
    page = _page_with_images({"../../outside.jpg": base64.b64encode(b"x").decode()})
    with Client() as client, pytest.raises(ServerError, match="outside"):
        client.save_markdown(page, tmp_path / "page_0")
    assert not (tmp_path.parent / "outside.jpg").exists()


def test_a_server_that_cannot_be_reached_is_a_connection_failure_after_the_retries():
    with Client(f"http://127.0.0.1:{free_port()}", retries=FAST) as client:
        with pytest.raises(ConnectionFailedError, match="Cannot reach"):
            client.job("some-job")


class _Scripted(BaseHTTPRequestHandler):
    """Answers each request with the next of `answers` (status, headers, body), and records what it got."""

    answers: list[tuple[int, dict[str, str], bytes]] = []
    received: list[dict[str, str]] = []

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append({"path": self.path, **dict(self.headers)})
        status, headers, body = type(self).answers.pop(0)
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[tuple[str, type[_Scripted]]]:
    """A local server answering as scripted: the 503 and the lost answer the real one cannot be made to give."""
    handler = type("Handler", (_Scripted,), {"answers": [], "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler
    finally:
        server.shutdown()
        server.server_close()


def _envelope(status: int, message: str) -> bytes:
    return json.dumps({"logId": "l", "errorCode": status, "errorMsg": message}).encode()


def test_a_503_is_sent_again_after_its_retry_after_and_the_next_answer_returned(scripted):
    url, handler = scripted
    submitted = json.dumps({"logId": "l", "code": 0, "msg": "Success", "data": {"jobId": "job-1"}}).encode()
    handler.answers = [(503, {"Retry-After": "0"}, _envelope(503, "The job store is unavailable; retry later")),
                       (200, {"Content-Type": "application/json"}, submitted)]
    with Client(url, token="secret", retries=FAST) as client:
        assert client.submit(b"%PDF-1.7", use_layout_detection=False) == "job-1"
    first, second = handler.received
    # The resend is the same submission: the server would return the first job for it, not start a second.
    assert first["Idempotency-Key"] == second["Idempotency-Key"]
    assert first["Authorization"] == "Bearer secret"


def test_a_refused_request_is_not_sent_again(scripted):
    url, handler = scripted
    handler.answers = [(422, {}, _envelope(422, "The file is not a PDF")), (200, {}, b"{}")]
    with Client(url, retries=FAST) as client, pytest.raises(InvalidRequestError, match="The file is not a PDF"):
        client.parse(b"not a pdf")
    assert len(handler.received) == 1


def test_a_503_that_outlasts_the_retries_is_raised(scripted):
    url, handler = scripted
    handler.answers = [(503, {"Retry-After": "0"}, _envelope(503, "Draining"))] * 3
    with Client(url, retries=FAST) as client, pytest.raises(UnavailableError, match="Draining"):
        client.job("job-1")
    assert len(handler.received) == FAST.retries + 1


def test_the_async_client_sends_a_503_again_and_raises_a_refusal_as_the_blocking_one_does(scripted):
    url, handler = scripted
    handler.answers = [(503, {"Retry-After": "0"}, _envelope(503, "Draining")),
                       (404, {}, _envelope(404, "Unknown job 'job-1'"))]

    async def status() -> None:
        async with AsyncClient(url, retries=FAST) as client:
            await client.job("job-1")

    with pytest.raises(NotFoundError, match="Unknown job 'job-1'"):
        asyncio.run(status())
    assert len(handler.received) == 2
