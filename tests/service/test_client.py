"""serve/client.py against the served app (configs/local.yaml: files as URLs, jobs on with a private Redis): the
documented flow, parsing, streaming and jobs come back as the wire models, and the server's refusals as the
client's error classes with the server's own words."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import pytest

from serve.client import (
    AsyncClient,
    Client,
    DeadlineError,
    InvalidRequestError,
    JobFailedError,
    NotFoundError,
)
from tests.service.conftest import blank_pdf, continued_table_pdf, inked_pdf, report_png

pytestmark = pytest.mark.service

PICTURES_PDF = Path("docling_pdf") / "sources" / "amt_handbook_sample.pdf"
# Pages enough to be cut short by a deadline of a few seconds (about a second a page here).
LONG_PAGES = 40
SHORT_DEADLINE_S = 3


@pytest.fixture(scope="module")
def ocrvl(service_url: str) -> Iterator[Client]:
    with Client(service_url) as client:
        yield client


@pytest.fixture(scope="module")
def file_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A loopback file server (the test config lets the service fetch from 127.0.0.1), and the folder it serves."""
    root = tmp_path_factory.mktemp("served")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", root
    finally:
        server.shutdown()
        server.server_close()


def test_the_documented_flow_saves_each_pages_markdown_and_the_pictures_it_links(service_url, eval_dir, tmp_path):
    out = tmp_path / "out"
    # docs/client.md's five lines, with the visualisations (not saved) left off.
    with Client(service_url) as client:
        result = client.parse(eval_dir / PICTURES_PDF, visualize=False)
        for n, page in enumerate(result.layoutParsingResults):
            client.save_markdown(page, out / f"page_{n}")
    (page,) = result.layoutParsingResults
    assert (out / "page_0" / "page.md").read_text() == page.markdown.text
    assert page.markdown.images
    assert all(url.startswith(f"{service_url}/files/") for url in page.markdown.images.values())
    for name in page.markdown.images:
        assert f"]({name})" in page.markdown.text or f'src="{name}"' in page.markdown.text
        assert cv2.imread(str(out / "page_0" / name)) is not None


def test_parse_returns_every_page_typed_with_the_documents_data_info_and_applies_snake_case_options(ocrvl):
    result = ocrvl.parse(continued_table_pdf(), visualize=False, use_layout_detection=False)
    first, second = result.layoutParsingResults
    assert result.dataInfo.type == "pdf" and result.dataInfo.numPages == 2
    assert "Quarterly Figures" in first.markdown.text and "South 13" in second.markdown.text
    assert not first.prunedResult.model_settings.use_layout_detection and first.outputImages is None


def test_a_document_by_url_is_fetched_by_the_server(ocrvl, file_server):
    url, root = file_server
    (root / "report.png").write_bytes(report_png())
    (page,) = ocrvl.parse(f"{url}/report.png", visualize=False).layoutParsingResults
    assert "Synthetic Report" in page.markdown.text


def test_stream_pages_yields_every_page_once(ocrvl):
    pages = list(ocrvl.stream_pages(blank_pdf(3), visualize=False))
    assert sorted(page.index for page in pages) == [0, 1, 2]
    # blank_pdf's pages are twice as wide as they are high.
    assert all(page.result.prunedResult.width > page.result.prunedResult.height for page in pages)


def test_a_stream_cut_short_by_its_deadline_raises_after_the_pages_that_came(ocrvl):
    pages = []
    with pytest.raises(DeadlineError, match="Deadline of .* s exceeded") as caught:
        for page in ocrvl.stream_pages(inked_pdf(LONG_PAGES), timeout=SHORT_DEADLINE_S, visualize=False):
            pages.append(page)
    assert caught.value.status == 504 and len(pages) < LONG_PAGES


def test_a_corrupt_file_is_an_invalid_request_in_the_servers_words(ocrvl):
    with pytest.raises(InvalidRequestError) as caught:
        ocrvl.parse(b"%PDF-1.7 this is no PDF", file_type=0)
    assert caught.value.status == 422 and caught.value.log_id
    assert "PDF" in caught.value.message
    with pytest.raises(InvalidRequestError) as streamed:
        next(ocrvl.stream_pages(b"%PDF-1.7 this is no PDF", file_type=0))
    assert streamed.value.message == caught.value.message


def test_an_option_only_the_server_can_check_is_refused_in_its_words(ocrvl):
    with pytest.raises(InvalidRequestError, match="no_such_label") as caught:
        ocrvl.parse(report_png(), layout_threshold={"no_such_label": 0.5})
    assert caught.value.status == 422


def test_submit_and_wait_return_every_page_of_the_job_in_order(ocrvl):
    job_id = ocrvl.submit(continued_table_pdf(), visualize=False)
    pages = ocrvl.wait(job_id, poll_interval=0.5, timeout=300)
    assert [page.index for page in pages] == [0, 1]
    assert "Quarterly Figures" in pages[0].result.markdown.text and "South 13" in pages[1].result.markdown.text
    status = ocrvl.job(job_id)
    assert status.state == "done" and status.extractProgress.extractedPages == 2
    served = ocrvl.job_pages(job_id)
    assert [page.pageIndex for page in served.pages] == [0, 1] and served.next == served.totalPages == 2


def test_a_job_by_url_over_some_pages_returns_those_pages(ocrvl, file_server):
    url, root = file_server
    (root / "blank.pdf").write_bytes(blank_pdf(4))
    job_id = ocrvl.submit(f"{url}/blank.pdf", page_ranges="2,4", visualize=False)
    assert [page.index for page in ocrvl.wait(job_id, poll_interval=0.5, timeout=300)] == [1, 3]


def test_a_job_whose_document_is_corrupt_fails_with_the_jobs_error_message(ocrvl):
    job_id = ocrvl.submit(b"%PDF-1.7 this is no PDF")
    with pytest.raises(JobFailedError) as caught:
        ocrvl.wait(job_id, poll_interval=0.5, timeout=300)
    assert caught.value.job_id == job_id and caught.value.message == ocrvl.job(job_id).errorMsg


def test_an_unknown_job_is_not_found(ocrvl):
    with pytest.raises(NotFoundError, match="no-such-job"):
        ocrvl.job("no-such-job")


def test_the_async_client_parses_streams_and_refuses_as_the_blocking_one(service_url):
    async def calls() -> tuple:
        async with AsyncClient(service_url) as client:
            parsed = await client.parse(continued_table_pdf(), visualize=False)
            streamed = [page.index async for page in client.stream_pages(blank_pdf(2), visualize=False)]
            with pytest.raises(InvalidRequestError) as refused:
                await client.parse(b"%PDF-1.7 this is no PDF", file_type=0)
            return parsed, streamed, refused.value

    parsed, streamed, refused = asyncio.run(calls())
    assert [len(parsed.layoutParsingResults), parsed.dataInfo.numPages] == [2, 2]
    assert "Quarterly Figures" in parsed.layoutParsingResults[0].markdown.text
    assert sorted(streamed) == [0, 1]
    assert refused.status == 422 and "PDF" in refused.message
