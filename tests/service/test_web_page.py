"""The web page at `/` in a real browser: Debian's chromium, driven by Playwright, against the served app.

A real one-page document is read once, and the tests look at what the page made of it: the page image with one
labelled box per block, the Markdown rendered (its table as a table), the JSON view, the downloads. A corrupt
file shows the service's own message. Answers no real document gives (hostile Markdown, pages out of order, a
stream cut short, a refused API key) are played to the page through Playwright's request routing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from serve.admission import Admission
from serve.config import ServiceConfig
from serve.http_app import ENDPOINTS, build_http_app
from serve.metrics import IngressMetrics
from tests.programs import require_program
from tests.service.conftest import b64

pytestmark = pytest.mark.service

# One page with headings, paragraphs and a table, all of which the embedded stack reads.
DOCUMENT = "docling_pdf/sources/2305.03393v1-pg9.pdf"
PARSE_TIMEOUT_MS = 180_000
CORRUPT_PDF = b"%PDF-1.7\n" + bytes(range(256)) * 8


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Chromium's sandbox cannot start as root (containers, CI machines).
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=require_program("chromium"), headless=True, args=args)
        yield browser
        browser.close()


def open_page(browser: Browser, service_url: str) -> Page:
    page = browser.new_context(base_url=service_url, accept_downloads=True).new_page()
    page.goto("/")
    return page


@pytest.fixture
def page(browser: Browser, service_url: str) -> Iterator[Page]:
    page = open_page(browser, service_url)
    yield page
    page.context.close()


def parse(page: Page, file: Path | dict) -> None:
    """Chooses `file` (a path, or Playwright's name/mimeType/buffer) and parses it; returns when the answer ended."""
    page.set_input_files("#file", file)
    page.click("#parse")  # the button stays disabled while the answer is read
    expect(page.locator("#parse")).to_be_enabled(timeout=PARSE_TIMEOUT_MS)


@pytest.fixture(scope="module")
def document_errors() -> list[str]:
    """What the browser reported as errors while `document_page` loaded, read and was used."""
    return []


@pytest.fixture(scope="module")
def document_page(browser: Browser, service_url: str, eval_dir: Path, document_errors: list[str]) -> Iterator[Page]:
    """The page once it has shown DOCUMENT."""
    page = browser.new_context(base_url=service_url, accept_downloads=True).new_page()
    page.on("console", lambda message: document_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: document_errors.append(str(error)))
    page.goto("/")
    parse(page, eval_dir / DOCUMENT)
    expect(page.locator("#status")).to_contain_text("Done: 1 page(s)")
    yield page
    page.context.close()


def shown_result(page: Page, index: int = 0) -> dict:
    """The page result as the JSON view shows it."""
    return json.loads(page.locator(f'.page[data-page-index="{index}"] .json').text_content())


def test_every_block_is_boxed_over_the_page_image_with_its_order_and_label(document_page):
    result = shown_result(document_page)
    pruned = result["prunedResult"]
    blocks = pruned["parsing_res_list"]
    boxes = document_page.locator(".page .box")
    expect(boxes).to_have_count(len(blocks))
    assert "table" in [b["block_label"] for b in blocks]
    expected = [f"{'' if b['block_order'] is None else b['block_order']} {b['block_label']}".strip() for b in blocks]
    assert document_page.locator(".page .box-label").all_text_contents() == expected
    image = document_page.locator(".page .figure img")
    assert image.evaluate("img => img.complete && img.naturalWidth > 0"), "the page image did not load"
    # Boxes are scaled to the image as displayed: each one's corner lies where its bbox puts it.
    shown = image.bounding_box()
    for box, block in zip(boxes.all(), blocks, strict=True):
        corner = box.bounding_box()
        x1, y1 = block["block_bbox"][:2]
        assert corner["x"] == pytest.approx(shown["x"] + x1 * shown["width"] / pruned["width"], abs=1.5)
        assert corner["y"] == pytest.approx(shown["y"] + y1 * shown["height"] / pruned["height"], abs=1.5)


def test_markdown_is_rendered_with_its_table_as_a_table(document_page):
    rendered = document_page.locator(".page .markdown")
    expect(rendered).to_contain_text("Hyper Parameter Optimization")
    table = rendered.locator("table").first
    expect(table).to_be_visible()
    assert table.locator("td").count() >= 4
    expect(table).to_contain_text("OTSL")
    assert "<table" not in rendered.inner_text()


def test_json_toggle_shows_the_page_result_instead_of_its_markdown(document_page):
    document_page.check("#show-json")
    try:
        expect(document_page.locator(".page .json")).to_be_visible()
        expect(document_page.locator(".page .markdown")).to_be_hidden()
        assert shown_result(document_page)["prunedResult"]["parsing_res_list"]
    finally:
        document_page.uncheck("#show-json")
    expect(document_page.locator(".page .markdown")).to_be_visible()


def test_downloads_give_the_pages_markdown_their_json_and_a_docx(document_page):
    result = shown_result(document_page)
    with document_page.expect_download() as markdown:
        document_page.click("#download-markdown")
    assert markdown.value.suggested_filename == "2305.03393v1-pg9.md"
    assert Path(markdown.value.path()).read_text(encoding="utf-8") == result["markdown"]["text"]
    with document_page.expect_download() as results:
        document_page.click("#download-json")
    downloaded = json.loads(Path(results.value.path()).read_text(encoding="utf-8"))
    assert downloaded["layoutParsingResults"] == [result]
    assert downloaded["dataInfo"]["numPages"] == 1
    with document_page.expect_download(timeout=60_000) as docx:
        document_page.click("#download-docx")
    assert docx.value.suggested_filename == "2305.03393v1-pg9.docx"
    assert Path(docx.value.path()).read_bytes()[:2] == b"PK"  # a DOCX is a zip


def test_the_page_reports_no_errors_in_the_browser(document_page, document_errors):
    assert document_errors == []


def test_a_corrupt_file_shows_the_services_error_message(page, client):
    answer = client.post("/layout-parsing", json={"file": b64(CORRUPT_PDF)})
    assert answer.status_code == 422
    parse(page, {"name": "corrupt.pdf", "mimeType": "application/pdf", "buffer": CORRUPT_PDF})
    expect(page.locator("#error-code")).to_have_text("Error 422")
    expect(page.locator("#error-message")).to_have_text(answer.json()["errorMsg"])
    expect(page.locator(".page")).to_have_count(0)
    expect(page.locator("#toolbar")).to_be_hidden()  # nothing to download or toggle


def fake_page(markdown: str, images: dict[str, str] | None = None) -> dict:
    """A page result with one block and no page image."""
    block = {"block_label": "text", "block_content": "x", "block_bbox": [10, 10, 90, 50], "block_id": 0,
             "block_order": 1, "group_id": 0}
    return {"prunedResult": {"width": 100, "height": 100, "parsing_res_list": [block]},
            "markdown": {"text": markdown, "images": images or {}}}


def answer_with(page: Page, lines: list[dict]) -> None:
    """Makes the page's next `POST /layout-parsing` answer with these NDJSON lines."""
    body = "".join(json.dumps(line) + "\n" for line in lines)
    page.route("**/layout-parsing", lambda route: route.fulfill(body=body, content_type="application/x-ndjson"))


SUCCESS = {"logId": "x", "errorCode": 0, "errorMsg": "Success", "result": {"dataInfo": {}}}
A_FILE = {"name": "a.png", "mimeType": "image/png", "buffer": b"not parsed: the answer is played"}


def test_markdown_from_the_document_cannot_run_script_and_keeps_its_tables_and_pictures(page):
    hostile = "\n\n".join([
        "# Heading",
        "<script>window.injected = 'script'</script>",
        '<img src="x" onerror="window.injected = \'onerror\'">',
        '<a href="javascript:window.injected = \'link\'">link</a> and <a href="https://example.org/">a web link</a>',
        '<iframe src="javascript:window.injected = \'iframe\'"></iframe><svg onload="window.injected = \'svg\'"></svg>',
        '<div style="text-align: center;"><img src="imgs/crop.jpg" alt="Image" width="50%" /></div>',
        '<table><tr><td colspan="2" onclick="window.injected = \'cell\'" style="color: red">cell</td></tr></table>',
        "$$x_1 + y_1$$",
    ])
    answer_with(page, [{"pageIndex": 0, "result": fake_page(hostile, {"imgs/crop.jpg": b64(b"jpeg bytes")})},
                       SUCCESS])
    parse(page, A_FILE)
    rendered = page.locator(".markdown")
    expect(rendered.locator("h1")).to_have_text("Heading")
    assert page.evaluate("window.injected") is None
    for unsafe in ("script", "iframe", "svg", "[onerror]", "[onclick]", "[style]", 'a[href^="javascript"]'):
        expect(rendered.locator(unsafe)).to_have_count(0)
    expect(rendered.locator('a[href="https://example.org/"]')).to_have_attribute("rel", "noopener noreferrer")
    expect(rendered.locator(".center img")).to_have_attribute("src", "data:image/jpeg;base64," + b64(b"jpeg bytes"))
    expect(rendered.locator("img:not([src])")).to_have_count(1)  # `src="x"` is no web URL: dropped
    expect(rendered.locator('td[colspan="2"]')).to_have_text("cell")
    expect(rendered.locator("code.math")).to_have_text("x_1 + y_1")  # not turned into emphasis


def test_pages_are_shown_in_page_order_whatever_order_they_finish_in(page):
    answer_with(page, [{"pageIndex": 1, "result": fake_page("second")},
                       {"pageIndex": 0, "result": fake_page("first")}, SUCCESS])
    parse(page, A_FILE)
    expect(page.locator(".page h2")).to_have_text(["Page 1", "Page 2"])
    expect(page.locator(".page .markdown")).to_have_text(["first", "second"])


def test_an_error_line_after_some_pages_keeps_them_and_shows_its_message(page):
    answer_with(page, [{"pageIndex": 0, "result": fake_page("first")},
                       {"logId": "x", "errorCode": 504, "errorMsg": "Deadline exceeded"}])
    parse(page, A_FILE)
    expect(page.locator(".page .markdown")).to_have_text(["first"])
    expect(page.locator("#error-code")).to_have_text("Error 504")
    expect(page.locator("#error-message")).to_have_text("Deadline exceeded")


def test_the_api_key_typed_in_the_page_is_sent_as_a_bearer_token_and_never_stored(page):
    sent: list[str | None] = []

    def refuse(route: Route) -> None:
        sent.append(route.request.headers.get("authorization"))
        route.fulfill(status=403, json={"logId": "x", "errorCode": 403, "errorMsg": "Invalid API key"})

    page.route("**/layout-parsing", refuse)
    page.fill("#token", "k-123")
    parse(page, A_FILE)
    assert sent == ["Bearer k-123"]
    expect(page.locator("#error-message")).to_have_text("Invalid API key")
    assert page.evaluate("localStorage.length + sessionStorage.length + document.cookie.length") == 0


class _Api:
    """Stands in for the ingress's routes: what is under test is what stands in front of them."""

    async def infer(self) -> JSONResponse:
        return JSONResponse({"logId": "x", "errorCode": 0, "errorMsg": "Success"})

    restructure_pages = health = ready = infer


def test_with_api_keys_on_the_page_needs_no_key_but_the_api_it_calls_does(monkeypatch):
    monkeypatch.setenv("OCRVL_TEST_KEYS", "team:k-123")
    config = ServiceConfig.model_validate({"auth": {"enabled": True, "keys_env": "OCRVL_TEST_KEYS"}})
    app = build_http_app(config, _Api(), IngressMetrics(ENDPOINTS), Admission(4, 1), None, None)
    with TestClient(app) as client:
        index = client.get("/")
        assert index.status_code == 200 and 'id="token"' in index.text
        for asset in ("/web/app.js", "/web/style.css", "/web/marked/marked.esm.js"):
            assert client.get(asset).status_code == 200, asset
        assert client.post("/layout-parsing", json={}).status_code == 401
        assert client.post("/layout-parsing", json={}, headers={"Authorization": "Bearer k-123"}).status_code == 200


def test_the_page_is_served_by_the_running_service(service_url):
    index = httpx.get(service_url + "/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    script = httpx.get(service_url + "/web/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
