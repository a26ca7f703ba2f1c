"""configs/local.yaml returns files as URLs into its filesystem store: the documented client flow (post, then GET
every image value with a plain HTTP GET and save it) works unchanged; DOCX exports arrive the same way; forged and
traversing URLs are refused in the envelope; cross-page restructuring on `/layout-parsing` and
`/restructure-pages`."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import docx
import httpx
import pytest

from tests.service.conftest import b64, continued_table_pdf, file_b64

pytestmark = pytest.mark.service

PICTURES_PDF = Path("docling_pdf") / "sources" / "amt_handbook_sample.pdf"


@pytest.fixture(scope="module")
def pictures_page(client: httpx.Client, eval_dir: Path) -> dict:
    """One page with two pictures, parsed with the defaults (visualize on) and a DOCX export."""
    answer = client.post("/layout-parsing", json={"file": file_b64(eval_dir / PICTURES_PDF), "fileType": 0,
                                                  "outputFormats": ["docx"]})
    assert answer.status_code == 200, answer.text
    assert "X-Unhonored-Fields" not in answer.headers
    (page,) = answer.json()["result"]["layoutParsingResults"]
    return page


@pytest.fixture(scope="module")
def continued_table(client: httpx.Client) -> list[dict]:
    answer = client.post("/layout-parsing", json={"file": b64(continued_table_pdf()), "fileType": 0,
                                                  "visualize": False})
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]["layoutParsingResults"]


def test_the_documented_client_flow_gets_every_image_by_a_plain_get(pictures_page, service_url, tmp_path):
    values = {**pictures_page["markdown"]["images"], **pictures_page["outputImages"],
              "input.jpg": pictures_page["inputImage"]}
    assert len(pictures_page["markdown"]["images"]) >= 1 and "layout_det_res" in pictures_page["outputImages"]
    for name, url in values.items():
        assert url.startswith(f"{service_url}/files/"), url
        download = httpx.get(url, timeout=60)  # no headers, as `requests.get(value)` in the client flow
        assert download.status_code == 200 and download.headers["content-type"] == "image/jpeg"
        saved = tmp_path / name
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_bytes(download.content)
        assert cv2.imread(str(saved)) is not None


def test_the_docx_export_is_a_url_to_a_document_with_the_page_and_its_pictures(pictures_page):
    export = pictures_page["exports"]["docx"]
    assert export["fileName"] == "page_0.docx"
    download = httpx.get(export["content"], timeout=60)
    assert download.status_code == 200
    document = docx.Document(io.BytesIO(download.content))
    assert len(document.inline_shapes) == len(pictures_page["markdown"]["images"])
    assert sum(len(p.text) for p in document.paragraphs) > 100


def test_a_tampered_or_traversing_file_url_is_refused_in_the_envelope(pictures_page, service_url):
    url = pictures_page["inputImage"]
    forged = httpx.get(url.replace("signature=", "signature=00"), timeout=60)
    assert forged.status_code == 403 and forged.json()["errorCode"] == 403
    for path in ("/files/../../etc/passwd", "/files/%2e%2e/%2e%2e/etc/passwd", "/files/.signing-key"):
        refused = httpx.get(f"{service_url}{path}?expires=9999999999&signature=00", timeout=60)
        assert refused.status_code in (403, 404) and refused.json()["errorCode"] == refused.status_code


def _tables(page: dict) -> list[dict]:
    return [b for b in page["prunedResult"]["parsing_res_list"] if b["block_label"] == "table"]


def test_restructure_pages_on_layout_parsing_merges_the_continued_table(client, continued_table):
    answer = client.post("/layout-parsing", json={"file": b64(continued_table_pdf()), "fileType": 0,
                                                  "visualize": False, "restructurePages": True})
    assert answer.status_code == 200 and "X-Unhonored-Fields" not in answer.headers
    first, second = answer.json()["result"]["layoutParsingResults"]
    (head,), (tail,) = _tables(first), _tables(second)
    assert "South 13" in head["block_content"] and tail["block_content"] == ""
    assert tail["global_group_id"] == head["global_block_id"] != tail["global_block_id"]
    assert "South 13" in first["markdown"]["text"] and "South" not in second["markdown"]["text"]
    # Without restructuring, each page keeps its part and no global ids are reported.
    assert "South 13" not in _tables(continued_table[0])[0]["block_content"]
    assert "global_block_id" not in continued_table[0]["prunedResult"]["parsing_res_list"][0]


def test_restructure_pages_endpoint_merges_and_concatenates(client, continued_table):
    pages = [{"prunedResult": p["prunedResult"], "markdownImages": p["markdown"].get("images")}
             for p in continued_table]
    separate = client.post("/restructure-pages", json={"pages": pages})
    assert separate.status_code == 200, separate.text
    first, second = separate.json()["result"]["layoutParsingResults"]
    assert "South 13" in _tables(first)[0]["block_content"] and _tables(second)[0]["block_content"] == ""

    joined = client.post("/restructure-pages", json={"pages": pages, "concatenatePages": True,
                                                     "outputFormats": ["docx"]})
    assert joined.status_code == 200, joined.text
    (document,) = joined.json()["result"]["layoutParsingResults"]
    pruned = document["prunedResult"]
    assert pruned["page_count"] == 2 and len(pruned["layout_det_res"]) == 2
    assert len(pruned["parsing_res_list"]) == sum(len(p["prunedResult"]["parsing_res_list"]) for p in pages)
    assert document["markdown"]["text"].count("<table") == 1
    export = httpx.get(document["exports"]["docx"]["content"], timeout=60)
    (table,) = docx.Document(io.BytesIO(export.content)).tables
    cells = {cell.text for row in table.rows for cell in row.cells}
    assert {"Region", "North 0", "South 13"} <= cells


@pytest.mark.parametrize("body", [
    {"pages": []},
    {"pages": [{"prunedResult": {"width": 100}}]},
    {"pages": "not a list"},
    {"pages": [{"prunedResult": {}}], "outputFormats": ["pdf"]},
])
def test_bad_restructure_requests_are_422_in_the_envelope(client, body):
    answer = client.post("/restructure-pages", json=body)
    assert answer.status_code == 422 and answer.json()["errorCode"] == 422


def test_a_docx_export_with_an_image_value_that_is_neither_base64_nor_a_url_is_422(client, continued_table):
    page = continued_table[0]
    body = {"pages": [{"prunedResult": page["prunedResult"], "markdownImages": {"imgs/x.jpg": "not base64 !"}}],
            "outputFormats": ["docx"]}
    answer = client.post("/restructure-pages", json=body)
    assert answer.status_code == 422 and "imgs/x.jpg" in answer.json()["errorMsg"]


def test_files_are_kept_in_the_configured_store_under_the_requests_prefix(results_dir, pictures_page):
    key = httpx.URL(pictures_page["inputImage"]).path.removeprefix("/files/")
    prefix, name = key.split("/", 1)
    assert name == "input_img_0.jpg" and (results_dir / prefix / name).is_file()
