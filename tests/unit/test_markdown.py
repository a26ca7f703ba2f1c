"""Markdown rendering per label (spec §5.8), page assembly and the formatBlockContent rendering."""

from __future__ import annotations

from dataclasses import replace

import pytest

from layout.markdown import (
    MarkdownOptions,
    format_block_content,
    render_block,
    render_document,
    render_page,
    title_heading,
)
from layout.restructure import Page
from layout.types import Block

PAGE_WIDTH = 1000
PRETTY = MarkdownOptions()
PLAIN = MarkdownOptions(prettify=False)
NUMBERED = MarkdownOptions(show_formula_number=True)


def block(label: str, content: str = "", bbox: tuple[int, int, int, int] = (100, 200, 600, 400)) -> Block:
    return Block(label=label, bbox=bbox, content=content)


def picture(label: str, content: str = "", bbox: tuple[int, int, int, int] = (100, 200, 600, 400)) -> Block:
    b = block(label, content, bbox)
    b.image_path = f"imgs/img_in_{label}_box_{bbox[0]}_{bbox[1]}_{bbox[2]}_{bbox[3]}.jpg"
    return b


def test_options_default_to_pretty_unnumbered_with_the_shipped_ignore_labels() -> None:
    assert PRETTY.prettify is True
    assert PRETTY.show_formula_number is False
    assert PRETTY.ignore_labels == frozenset(
        {"number", "footnote", "header", "header_image", "footer", "footer_image", "aside_text"}
    )


@pytest.mark.parametrize("options", [PRETTY, PLAIN])
def test_doc_title_is_h1_on_one_line_without_soft_hyphens(options: MarkdownOptions) -> None:
    b = block("doc_title", "A Vision-Lan-\nguage Model\nfor Docu\u00adments")
    assert render_block(b, PAGE_WIDTH, options) == "# A Vision-Language Model for Documents"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("1 Introduction", "## 1 Introduction"),
        ("2.1 Data", "### 2.1 Data"),
        ("3.2.1 Training details", "#### 3.2.1 Training details"),
        ("1 . 2  Methods", "### 1.2 Methods"),
        ("2．3 全角", "### 2.3 全角"),
        ("1. Introduction", "## 1. Introduction"),
        ("1.Introduction", "## 1. Introduction"),
        ("A.1 Proofs", "### A.1 Proofs"),
        ("(三) 研究方法", "## (三) 研究方法"),
        ("（三）研究方法", "## （三） 研究方法"),
        ("三、研究方法", "## 三、 研究方法"),
        ("第一章 绪论", "## 第一章 绪论"),
        ("IV. Results", "## IV. Results"),
        ("Related Work", "## Related Work"),
        ("3D Reconstruction", "## 3D Reconstruction"),
        ("2.1Data", "## 2.1Data"),
        ("1.2.3.4.5.6.7 Deep", "###### 1.2.3.4.5.6.7 Deep"),
    ],
)
def test_paragraph_title_level_follows_its_numbering(title: str, expected: str) -> None:
    assert render_block(block("paragraph_title", title), PAGE_WIDTH, PRETTY) == expected


@pytest.mark.parametrize(
    ("label", "content", "title_level", "expected"),
    [
        ("doc_title", "A Vision-Lan-\nguage Model", None, ("A Vision-Language Model", 0)),
        ("paragraph_title", "2.1 Data", None, ("2.1 Data", 2)),
        ("paragraph_title", "1.Intro", None, ("1. Intro", 1)),
        ("paragraph_title", "2.1 Data", 1, ("2.1 Data", 1)),
        ("paragraph_title", "1.Intro\nduction", 3, ("1. Intro duction", 3)),
        ("paragraph_title", "Scope", 0, ("Scope", 0)),
    ],
)
def test_title_heading_is_the_title_text_and_its_level(
    label: str, content: str, title_level: int | None, expected: tuple[str, int]
) -> None:
    b = block(label, content)
    b.title_level = title_level
    assert title_heading(b) == expected


def test_title_heading_is_only_for_titles() -> None:
    with pytest.raises(ValueError):
        title_heading(block("text", "1 Introduction"))


@pytest.mark.parametrize(("level", "marks"), [(0, "#"), (1, "##"), (3, "####"), (5, "######"), (8, "######")])
def test_a_relevelled_paragraph_title_takes_its_level_clamped_to_six_marks(level: int, marks: str) -> None:
    b = block("paragraph_title", "2.1.3 Data")
    b.title_level = level
    assert render_block(b, PAGE_WIDTH, PRETTY) == f"{marks} 2.1.3 Data"
    assert format_block_content(b, PAGE_WIDTH, PLAIN) == f"{marks} 2.1.3 Data"


def test_paragraph_title_joins_wrapped_lines() -> None:
    assert render_block(block("paragraph_title", "1 Intro\nduction"), PAGE_WIDTH, PRETTY) == "## 1 Intro duction"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Abstract We present a model.", "## Abstract\nWe present a model."),
        ("ABSTRACT\nWe present a model.", "## ABSTRACT\nWe present a model."),
        ("摘要 本文提出", "## 摘要\n本文提出"),
        ("We present a model.", "We present a model."),
        ("Abstracts are short.", "Abstracts are short."),
    ],
)
def test_abstract_gets_a_heading_only_when_it_starts_with_the_word(content: str, expected: str) -> None:
    assert render_block(block("abstract", content), PAGE_WIDTH, PRETTY) == expected


@pytest.mark.parametrize("label", ["text", "vertical_text", "reference_content", "vision_footnote", "ocr"])
@pytest.mark.parametrize("options", [PRETTY, PLAIN])
def test_text_like_blocks_make_every_line_a_paragraph(label: str, options: MarkdownOptions) -> None:
    b = block(label, "first line\nsecond line\n\n\nthird line\n")
    assert render_block(b, PAGE_WIDTH, options) == "first line\n\nsecond line\n\nthird line"


def test_table_of_contents_lines_end_with_hard_breaks() -> None:
    b = block("content", "1 Intro ... 1\n2 Method ... 3")
    assert render_block(b, PAGE_WIDTH, PRETTY) == "1 Intro ... 1  \n2 Method ... 3"


def test_algorithm_is_stripped_text() -> None:
    rendering = render_block(block("algorithm", "\n  for i in x:\n    f(i)\n"), PAGE_WIDTH, PRETTY)
    assert rendering == "for i in x:\n    f(i)"


@pytest.mark.parametrize("label", ["figure_title", "table_title", "chart_title"])
def test_captions_are_centred_when_pretty_and_plain_otherwise(label: str) -> None:
    b = block(label, "Figure 1: Overview")
    assert render_block(b, PAGE_WIDTH, PRETTY) == '<div style="text-align: center;">Figure 1: Overview</div>'
    assert render_block(b, PAGE_WIDTH, PLAIN) == "Figure 1: Overview"


@pytest.mark.parametrize("label", ["display_formula", "inline_formula", "formula"])
def test_formula_is_kept_as_recognised(label: str) -> None:
    assert render_block(block(label, " $$ E=mc^2 $$ "), PAGE_WIDTH, PRETTY) == " $$ E=mc^2 $$ "


def test_formula_gets_tag_from_the_following_formula_number_when_asked() -> None:
    formula, number = block("display_formula", " $$ E=mc^2 $$ "), block("formula_number", "(1)")
    assert render_block(formula, PAGE_WIDTH, NUMBERED, number) == "$$E=mc^2 \\tag*{(1)}$$"
    assert render_block(formula, PAGE_WIDTH, PRETTY, number) == " $$ E=mc^2 $$ "
    assert render_block(formula, PAGE_WIDTH, NUMBERED, block("text", "(1)")) == " $$ E=mc^2 $$ "


def test_formula_number_block_renders_nothing_on_its_own() -> None:
    assert render_block(block("formula_number", "(1)"), PAGE_WIDTH, NUMBERED) == ""


def test_pretty_table_is_bordered_centred_and_word_wrapping() -> None:
    html = "<html><body><table><tr><td>a</td><td colspan=\"2\">b</td></tr></table></body></html>"
    assert render_block(block("table", html), PAGE_WIDTH, PRETTY) == (
        '\n<table border="1" style="margin: auto; word-wrap: break-word;">'
        '<tr><td style="text-align: center; word-wrap: break-word;">a</td>'
        '<td style="text-align: center; word-wrap: break-word;" colspan="2">b</td></tr></table>'
    )


def test_plain_table_is_raw_html_without_document_wrappers() -> None:
    html = "<html><body><table><tr><td>a</td></tr></table></body></html>"
    assert render_block(block("table", html), PAGE_WIDTH, PLAIN) == "\n<table><tr><td>a</td></tr></table>"


@pytest.mark.parametrize("label", ["image", "header_image", "footer_image"])
def test_image_blocks_are_centred_pictures_sized_relative_to_the_page(label: str) -> None:
    b = picture(label, bbox=(100, 200, 433, 400))
    assert render_block(b, PAGE_WIDTH, PRETTY) == (
        f'<div style="text-align: center;"><img src="imgs/img_in_{label}_box_100_200_433_400.jpg" '
        'alt="Image" width="33%" /></div>'
    )
    assert render_block(b, PAGE_WIDTH, PLAIN) == f"![](imgs/img_in_{label}_box_100_200_433_400.jpg)"


@pytest.mark.parametrize(
    ("x2", "page_width", "percent"), [(999, 1000, 99), (1654, 1654, 100), (827, 1654, 50), (5, 1000, 0)]
)
def test_image_width_percentage_is_truncated_block_width_over_page_width(
    x2: int, page_width: int, percent: int
) -> None:
    rendering = render_block(picture("image", bbox=(0, 0, x2, 10)), page_width, PRETTY)
    assert f'width="{percent}%"' in rendering


def test_image_block_with_ocr_text_shows_the_text_under_the_picture() -> None:
    b = picture("image", "Sales\nQ1", bbox=(0, 0, 500, 10))
    assert render_block(b, PAGE_WIDTH, PLAIN) == "![](imgs/img_in_image_box_0_0_500_10.jpg)\n\nSales\n\nQ1"


def test_image_path_defaults_to_the_one_derived_from_label_and_box() -> None:
    assert render_block(block("image", bbox=(1, 2, 3, 4)), PAGE_WIDTH, PLAIN) == (
        "![](imgs/img_in_image_box_1_2_3_4.jpg)"
    )


@pytest.mark.parametrize("label", ["chart", "seal", "display_formula"])
def test_unrecognised_chart_seal_and_formula_are_kept_as_pictures(label: str) -> None:
    b = picture(label, bbox=(0, 0, 250, 10))
    assert render_block(b, PAGE_WIDTH, PLAIN) == f"![](imgs/img_in_{label}_box_0_0_250_10.jpg)"
    assert 'width="25%"' in render_block(b, PAGE_WIDTH, PRETTY)


def test_recognised_seal_shows_picture_and_text() -> None:
    b = picture("seal", "ACME Ltd", bbox=(0, 0, 250, 10))
    assert render_block(b, PAGE_WIDTH, PLAIN) == "![](imgs/img_in_seal_box_0_0_250_10.jpg)\n\nACME Ltd"


def test_seal_read_without_layout_detection_is_text() -> None:
    b = picture("seal", "ACME Ltd", bbox=(0, 0, 250, 10))
    assert render_block(b, PAGE_WIDTH, replace(PLAIN, layout_detection=False)) == "ACME Ltd"
    pretty = MarkdownOptions(layout_detection=False)
    assert render_block(b, PAGE_WIDTH, pretty) == '<div style="text-align: center;">ACME Ltd</div>'


def test_recognised_chart_is_an_html_table_with_the_first_line_as_head() -> None:
    b = picture("chart", "Year | Sales\n2020 | 5 < 6\n2021 | 7\n")
    assert render_block(b, PAGE_WIDTH, PLAIN) == (
        "<table><thead><tr><th>Year</th><th>Sales</th></tr></thead>"
        "<tbody><tr><td>2020</td><td>5 &lt; 6</td></tr><tr><td>2021</td><td>7</td></tr></tbody></table>"
    )
    cell = '<td style="text-align: center; word-wrap: break-word;">'
    assert render_block(b, PAGE_WIDTH, PRETTY) == (
        '<table border="1" style="margin: auto; word-wrap: break-word;"><thead><tr>'
        '<th style="text-align: center; word-wrap: break-word;">Year</th>'
        '<th style="text-align: center; word-wrap: break-word;">Sales</th></tr></thead>'
        f"<tbody><tr>{cell}2020</td>{cell}5 &lt; 6</td></tr><tr>{cell}2021</td>{cell}7</td></tr></tbody></table>"
    )


def test_chart_outer_pipes_and_rule_lines_are_not_cells() -> None:
    b = picture("chart", "| a | b |\n|---|:--:|\n| 1 | 2 |")
    assert render_block(b, PAGE_WIDTH, PLAIN) == (
        "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>2</td></tr></tbody></table>"
    )


@pytest.mark.parametrize("label", ["number", "footnote", "header", "footer", "aside_text", "unknown_label"])
def test_furniture_and_unknown_labels_are_plain_text(label: str) -> None:
    assert render_block(block(label, " page 3\n"), PAGE_WIDTH, PRETTY) == "page 3"


@pytest.mark.parametrize("label", ["doc_title", "paragraph_title", "text", "table", "abstract", "figure_title"])
def test_blocks_without_content_render_nothing(label: str) -> None:
    assert render_block(block(label, "  "), PAGE_WIDTH, PRETTY) == ""


def test_non_positive_page_width_is_rejected() -> None:
    with pytest.raises(ValueError, match="page_width"):
        render_block(block("text", "x"), 0, PRETTY)


def test_page_joins_renderings_in_order_skipping_ignored_empty_and_formula_numbers() -> None:
    blocks = [
        block("header", "Journal of Things"),
        block("doc_title", "Title"),
        block("text", "Body"),
        block("text", ""),
        block("display_formula", " $$ x $$ "),
        block("formula_number", "(2)"),
        block("number", "7"),
    ]
    assert render_page(blocks, PAGE_WIDTH, PRETTY) == "# Title\n\nBody\n\n $$ x $$ "
    assert render_page(blocks, PAGE_WIDTH, NUMBERED) == "# Title\n\nBody\n\n$$x \\tag*{(2)}$$"


def test_page_honours_custom_ignore_labels() -> None:
    blocks = [block("header", "Journal"), block("text", "Body"), block("footer", "p. 1")]
    options = MarkdownOptions(ignore_labels=frozenset({"text"}))
    assert render_page(blocks, PAGE_WIDTH, options) == "Journal\n\np. 1"


def test_ignored_image_blocks_are_left_out_of_the_page() -> None:
    blocks = [picture("header_image"), block("text", "Body")]
    assert render_page(blocks, PAGE_WIDTH, PRETTY) == "Body"


def test_empty_page_is_empty_text() -> None:
    assert render_page([], PAGE_WIDTH, PRETTY) == ""


def test_format_block_content_is_the_prettified_rendering() -> None:
    b = block("figure_title", "Figure 2")
    assert format_block_content(b, PAGE_WIDTH, PLAIN) == '<div style="text-align: center;">Figure 2</div>'


def test_format_block_content_ignores_ignore_labels_and_keeps_formula_numbers() -> None:
    assert format_block_content(block("header", "Journal"), PAGE_WIDTH, PRETTY) == "Journal"
    assert format_block_content(block("formula_number", "(1)"), PAGE_WIDTH, PRETTY) == "(1)"


def test_format_block_content_tags_a_formula_given_its_number() -> None:
    formula, number = block("display_formula", " $$ y $$ "), block("formula_number", "(3)")
    assert format_block_content(formula, PAGE_WIDTH, NUMBERED, number) == "$$y \\tag*{(3)}$$"


def test_document_joins_the_pages_markdown_like_blocks_and_sizes_pictures_per_page() -> None:
    first = Page(1000, 1400, (block("text", "Cut in the mid-"), picture("image", bbox=(0, 0, 500, 100))))
    empty = Page(1000, 1400, (block("header", "Journal"),))
    second = Page(500, 700, (block("text", "dle of a sentence"), picture("image", bbox=(0, 0, 250, 50))))
    assert render_document([first, empty, second], PLAIN) == (
        "Cut in the mid-\n\n![](imgs/img_in_image_box_0_0_500_100.jpg)\n\n"
        "dle of a sentence\n\n![](imgs/img_in_image_box_0_0_250_50.jpg)"
    )
    assert 'width="50%"' in render_document([first, second], PRETTY).split("dle of")[1]


def test_document_of_no_pages_is_empty_text() -> None:
    assert render_document([], PRETTY) == ""
