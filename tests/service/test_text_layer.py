"""Born-digital PDF pages read from their own text layer (layout/text_layer.py): at least as accurate as OCR on the
dev set, every kind of untrustworthy layer sent to OCR, and pages with nothing on them skipping both stages."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import mean

import httpx
import pytest

from loadtest.accuracy import ground_truth, normalised, text_accuracy
from serve.metrics import scrape_sum
from tests.pdf_samples import (
    blank_and_text_pdf,
    landscape_pdf,
    no_unicode_pdf,
    outlined_text_pdf,
    scanned_pdf_with_invisible_layer,
    text_pdf,
)
from tests.service.conftest import METRICS_WAIT_S, b64, poll, when_quiet

pytestmark = pytest.mark.service

LINES = ["Quarterly report on harbour traffic", "Ships arrived in March: 42 (up 5%)"]
# What the layer of an OCR'd scan claims, unlike its image.
WRONG_LAYER = ["Annual summary of railway freight", "Trains departed in June: 17"]
# The text layer may read a document slightly differently from OCR (bullets and curly quotes OCR drops count
# against it where the ground truth has none); never by more than this on one document.
ACCURACY_SLACK = 0.01


def _pages(client: httpx.Client, data: bytes, **fields) -> list[dict]:
    response = client.post("/layout-parsing", json={"file": b64(data), "fileType": 0, "visualize": False, **fields})
    assert response.status_code == 200, response.text
    return response.json()["result"]["layoutParsingResults"]


def _markdown(pages: list[dict]) -> str:
    return "\n\n".join(page["markdown"]["text"] for page in pages)


def _sources(pages: list[dict]) -> list[str | None]:
    return [page["prunedResult"]["model_settings"].get("text_source") for page in pages]


def _words_read(pages: list[dict], lines: list[str]) -> float:
    return _share_of_words(normalised(_markdown(pages)), lines)


def _words_in_blocks(pages: list[dict], lines: list[str]) -> float:
    """Like `_words_read`, from every block (the layout model may call a short page's lines a header, which Markdown
    leaves out)."""
    blocks = [block["block_content"] for page in pages for block in page["prunedResult"]["parsing_res_list"]]
    return _share_of_words(normalised(" ".join(blocks)), lines)


def _share_of_words(read: str, lines: list[str]) -> float:
    words = " ".join(lines).lower().split()
    return sum(word in read for word in words) / len(words)


@pytest.fixture(scope="module")
def dev_pdfs(eval_dir: Path) -> list[Path]:
    return sorted((eval_dir / "docling_pdf" / "sources").glob("*.pdf"))


@pytest.fixture(scope="module")
def read_both_ways(client: httpx.Client, dev_pdfs: list[Path]) -> dict[str, dict[str, list[dict]]]:
    return {
        pdf.stem: {mode: _pages(client, pdf.read_bytes(), textLayer=mode) for mode in ("auto", "off")}
        for pdf in dev_pdfs
    }


def test_dev_pdfs_read_from_their_text_layer_are_at_least_as_accurate_as_ocr(read_both_ways, dev_pdfs):
    scores = {
        pdf.stem: {mode: text_accuracy(_markdown(pages), ground_truth(pdf).read_text())
                   for mode, pages in read_both_ways[pdf.stem].items()}
        for pdf in dev_pdfs
    }
    assert mean(s["auto"] for s in scores.values()) >= mean(s["off"] for s in scores.values())
    assert all(s["auto"] >= s["off"] - ACCURACY_SLACK for s in scores.values()), scores
    sources = [source for reads in read_both_ways.values() for source in _sources(reads["auto"])]
    assert "text_layer" in sources


def test_with_the_text_layer_off_pages_keep_upstreams_model_settings(read_both_ways):
    for reads in read_both_ways.values():
        assert all("text_layer" not in page["prunedResult"]["model_settings"] for page in reads["off"])
        assert all(page["prunedResult"]["model_settings"]["text_layer"] == "auto" for page in reads["auto"])


@pytest.mark.parametrize("name", ["cropbox_versus_mediabox_01", "font_04", "rotated_page_01"])
def test_docling_parse_pages_give_at_least_the_cells_ocr_finds(client, eval_dir, name):
    folder = eval_dir / "docling_parse_textlayer"
    [page] = json.loads((folder / "groundtruth_cells" / f"{name}.cells.json").read_text())["pages"]
    cells = [normalised(cell["text"]) for cell in page["cells"] if normalised(cell["text"])]
    found = {}
    for mode in ("auto", "off"):
        pages = _pages(client, (folder / "sources" / f"{name}.pdf").read_bytes(), textLayer=mode)
        read = normalised(_markdown(pages))
        found[mode] = sum(cell in read for cell in cells)
    assert found["auto"] >= found["off"]
    assert _sources(pages) != ["engine"]


def test_a_landscape_page_turned_by_its_rotate_entry_is_read_from_its_layer(client):
    pages = _pages(client, landscape_pdf(LINES))
    assert _sources(pages) == ["text_layer"]
    assert _words_in_blocks(pages, LINES) == 1


def test_text_running_down_the_rendered_page_goes_to_ocr(client):
    # /Rotate 90 on a page drawn upright: its text runs top to bottom once the page is turned.
    pages = _pages(client, text_pdf(LINES, rotate=90))
    assert _sources(pages) == ["engine"]
    assert _words_in_blocks(pages, LINES) >= 0.8


@pytest.mark.parametrize("build", [no_unicode_pdf, outlined_text_pdf], ids=["no-unicode-map", "vector-outlines"])
def test_text_the_layer_cannot_give_is_read_by_ocr(client, build):
    pages = _pages(client, build(LINES))
    assert _sources(pages) == ["engine"]
    assert _words_read(pages, LINES) >= 0.8


def test_an_ocrd_scan_is_read_from_its_image_not_its_invisible_layer(client):
    pages = _pages(client, scanned_pdf_with_invisible_layer(LINES, WRONG_LAYER))
    assert _sources(pages) == ["engine"]
    assert _words_read(pages, LINES) >= 0.8
    assert _words_read(pages, WRONG_LAYER) < 0.3


def test_only_never_runs_ocr_and_off_never_reads_the_layer(client):
    only = _pages(client, no_unicode_pdf(LINES), textLayer="only")
    assert _sources(only) == ["text_layer"] and _words_read(only, LINES) == 0
    off = _pages(client, text_pdf(LINES), textLayer="off")
    assert _sources(off) == [None] and _words_read(off, LINES) >= 0.8


def test_an_unknown_text_layer_mode_is_a_422(client):
    response = client.post("/layout-parsing", json={"file": b64(text_pdf(LINES)), "textLayer": "sometimes"})
    assert response.status_code == 422 and "textLayer" in response.json()["errorMsg"]


def test_blank_pages_skip_both_stages_and_regions_are_counted_by_source(client, metrics_url):
    def figures() -> dict[str, float]:
        return {
            "layout": scrape_sum(metrics_url, "ray_ocrvl_stage_duration_seconds_count", stage="layout"),
            "recognition": scrape_sum(metrics_url, "ray_ocrvl_stage_duration_seconds_count", stage="recognition"),
            "from_layer": scrape_sum(metrics_url, "ray_ocrvl_regions_read_total", source="text_layer"),
        }

    before = when_quiet(figures, metrics_url)
    pages = _pages(client, blank_and_text_pdf([None, LINES, None, None]))
    assert [bool(page["prunedResult"]["parsing_res_list"]) for page in pages] == [False, True, False, False]
    assert _sources(pages) == ["none", "text_layer", "none", "none"]
    # Each replica reports on its own schedule: wait for all three, then the one text page is all that moved.
    poll(lambda: {k: v - before[k] for k, v in figures().items()},
         lambda moved: moved["from_layer"] >= 1 and (moved["layout"], moved["recognition"]) == (1, 1),
         METRICS_WAIT_S)
