"""`ocrvl parse`'s pure parts: what it finds to parse and names, the options it reads, the pages it counts."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest
from PIL import Image

from serve.parse_cli import UsageError, collect_sources, page_count, read_options


def test_folders_are_searched_recursively_by_suffix_and_names_are_unique_and_stable(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in ("a/x.pdf", "a/deep/x.PNG", "a/notes.txt", "y.jpg"):
        (tmp_path / name).write_bytes(b"0")
    sources = collect_sources([str(tmp_path / "a"), str(tmp_path / "*.jpg"), "https://example.com/r/x.pdf?v=1"])
    assert [(s.name, s.is_url) for s in sources] == [("x", False), ("x-2", False), ("y", False), ("x-3", True)]
    assert sources == collect_sources([str(tmp_path / "a"), str(tmp_path / "*.jpg"), "https://example.com/r/x.pdf?v=1"])


@pytest.mark.parametrize("inputs", [["/no/such/file.pdf"], []])
def test_nothing_to_parse_is_a_usage_error(tmp_path, inputs):
    with pytest.raises(UsageError):
        collect_sources(inputs or [str(tmp_path)])


def test_options_come_from_json_with_each_set_laid_over_and_are_checked():
    options = read_options('{"visualize": false, "layoutNms": true}', ["visualize=true", "prettify_markdown=false",
                                                                      "logId=run-1"])
    assert options == {"visualize": True, "layoutNms": True, "prettify_markdown": False, "logId": "run-1"}
    for bad in (("[1]", []), ("{", []), (None, ["novalue"]), (None, ["useLayoutDetektion=false"])):
        with pytest.raises(UsageError):
            read_options(*bad)


def test_pages_are_counted_as_the_service_counts_them(tmp_path):
    pdf = pdfium.PdfDocument.new()
    for _ in range(3):
        pdf.new_page(100, 100)
    pdf.save(tmp_path / "three.pdf")
    frames = [Image.new("RGB", (10, 10)) for _ in range(2)]
    frames[0].save(tmp_path / "two.tiff", save_all=True, append_images=frames[1:])
    Image.new("RGB", (10, 10)).save(tmp_path / "one.png")
    assert [page_count(str(tmp_path / name)) for name in ("three.pdf", "two.tiff", "one.png")] == [3, 2, 1]
