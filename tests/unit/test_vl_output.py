"""Post-processing of VLM answers: repetition guard, LaTeX delimiters, OTSL → HTML, spotting (spec §5.7)."""

from __future__ import annotations

import pytest

from layout.vl_output import (
    clean_output,
    guard_repetition,
    normalise_latex_delimiters,
    otsl_to_html,
    parse_spotting,
    postprocess_output,
)

# --- repetition guard ---------------------------------------------------------------------------------------------


def test_long_line_ending_in_repeats_keeps_the_prefix() -> None:
    text = "The quick brown fox jumps. " + "abcdefghij" * 20
    assert guard_repetition(text, is_table=False) == "The quick brown fox jumps. "


def test_repeated_tail_is_cut_completely_not_in_whole_multiples_of_a_longer_unit() -> None:
    text = "Intro text here: " + "0123456789" * 22
    assert guard_repetition(text, is_table=False) == "Intro text here: "


def test_repeated_tail_covering_half_or_less_is_kept() -> None:
    text = "A perfectly ordinary sentence that goes on for a while, long enough to matter here. " + "abcdefgh" * 6
    assert guard_repetition(text, is_table=False) == text


def test_tail_repeated_fewer_than_five_times_is_kept() -> None:
    text = "Short lead. " + "a repeated phrase " * 4 + "and then something else entirely to end the line"
    assert guard_repetition(text, is_table=False) == text


def test_line_that_is_only_repeats_keeps_one_unit() -> None:
    assert guard_repetition("abcdefgh" * 20, is_table=False) == "abcdefgh"
    assert guard_repetition("a" * 200, is_table=False) == "a"
    assert guard_repetition("  Hello world " * 12, is_table=False) == "Hello world"


def test_whole_short_string_repeated_ten_times_becomes_one_unit() -> None:
    assert guard_repetition("ab" * 40, is_table=False) == "ab"
    assert guard_repetition("\n" + "xyz" * 20 + "  ", is_table=False) == "xyz"  # judged on the stripped line


def test_whole_string_repeated_nine_times_is_kept() -> None:
    assert guard_repetition("abcdef" * 9, is_table=False) == "abcdef" * 9


def test_one_dominant_line_becomes_the_answer() -> None:
    text = "Header\n" + "Total: 12\n" * 12 + "\nFooter"
    assert guard_repetition(text, is_table=False) == "Total: 12"


def test_line_repeated_below_80_percent_is_kept() -> None:
    text = "\n".join(["one", "two", "three"] + ["same line"] * 10)
    assert guard_repetition(text, is_table=False) == text


def test_line_repeated_nine_times_is_kept() -> None:
    text = "\n".join(["same line"] * 9)
    assert guard_repetition(text, is_table=False) == text


def test_short_answers_are_never_touched() -> None:
    assert guard_repetition("ab" * 24, is_table=False) == "ab" * 24


def test_tables_are_guarded_only_from_5000_characters() -> None:
    looping = "\n".join(["<fcel>1<fcel>2<nl>"] * 200)  # 3799 characters
    assert guard_repetition(looping, is_table=True) == looping
    assert guard_repetition(looping, is_table=False) == "<fcel>1<fcel>2<nl>"
    runaway = "\n".join(["<fcel>1<fcel>2<nl>"] * 300)  # 5699 characters
    assert guard_repetition(runaway, is_table=True) == "<fcel>1<fcel>2<nl>"


def test_blank_answer_is_returned_as_is() -> None:
    assert guard_repetition(" " * 60, is_table=False) == " " * 60


# --- LaTeX delimiters ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\\(x\\)", " $ x $"),
        ("\\[a+b\\]", " $$ a+b $$ "),
        ("Area \\(\\pi r^2\\) of a circle", "Area  $ \\pi r^2 $ of a circle"),
        ("\\[\\[x=1\\]\\]", " $$ x=1 $$ "),
        ("Costs $5, and \\(y\\) too", "Costs 5, and  $ y $ too"),
    ],
)
def test_latex_delimiters_become_dollar_math(text: str, expected: str) -> None:
    assert normalise_latex_delimiters(text, label="text") == expected


@pytest.mark.parametrize("text", ["Costs $5", "only \\( opened", "only closed \\]", "$$x$$", ""])
def test_text_without_a_delimiter_pair_is_unchanged(text: str) -> None:
    assert normalise_latex_delimiters(text, label="text") == text


def test_formula_number_loses_its_dollars() -> None:
    assert normalise_latex_delimiters("\\((1)\\)", label="formula_number") == "  (1) "
    assert normalise_latex_delimiters("(1)", label="formula_number") == "(1)"


# --- OTSL → HTML --------------------------------------------------------------------------------------------------


def test_plain_otsl_grid() -> None:
    otsl = "<fcel>Name<fcel>Age<nl><fcel>Ann<fcel>31<nl>"
    assert otsl_to_html(otsl) == "<table><tr><td>Name</td><td>Age</td></tr><tr><td>Ann</td><td>31</td></tr></table>"


def test_colspan_from_lcel_and_rowspan_from_ucel() -> None:
    otsl = "<fcel>Region<fcel>Q1<lcel><nl><ucel><fcel>Jan<fcel>Feb<nl><fcel>North<fcel>1<fcel>2<nl>"
    assert otsl_to_html(otsl) == (
        '<table><tr><td rowspan="2">Region</td><td colspan="2">Q1</td></tr>'
        "<tr><td>Jan</td><td>Feb</td></tr>"
        "<tr><td>North</td><td>1</td><td>2</td></tr></table>"
    )


def test_xcel_makes_a_two_dimensional_span() -> None:
    otsl = "<fcel>A<lcel><fcel>B<nl><ucel><xcel><fcel>C<nl><fcel>D<fcel>E<fcel>F<nl>"
    assert otsl_to_html(otsl) == (
        '<table><tr><td rowspan="2" colspan="2">A</td><td>B</td></tr>'
        "<tr><td>C</td></tr>"
        "<tr><td>D</td><td>E</td><td>F</td></tr></table>"
    )


def test_empty_cells_may_span_too() -> None:
    assert otsl_to_html("<ecel><lcel><nl><fcel>a<fcel>b<nl>") == (
        '<table><tr><td colspan="2"></td></tr><tr><td>a</td><td>b</td></tr></table>'
    )


def test_cell_text_is_stripped_and_html_escaped() -> None:
    assert otsl_to_html('<fcel> a < b & "c" \n<ecel><nl>') == (
        "<table><tr><td>a &lt; b &amp; &quot;c&quot;</td><td></td></tr></table>"
    )


def test_ragged_rows_are_padded_to_the_common_width() -> None:
    otsl = "<fcel>a<fcel>b<fcel>c<nl><fcel>d<nl><fcel>e<fcel>f<nl>"
    assert otsl_to_html(otsl) == (
        "<table><tr><td>a</td><td>b</td><td>c</td></tr>"
        "<tr><td>d</td><td></td><td></td></tr>"
        "<tr><td>e</td><td>f</td><td></td></tr></table>"
    )


def test_a_row_with_extra_empty_cells_is_truncated_to_the_common_width() -> None:
    otsl = "<fcel>a<fcel>b<nl><fcel>c<fcel>d<nl><fcel>e<fcel>f<ecel><ecel><ecel><nl>"
    assert otsl_to_html(otsl) == (
        "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr><tr><td>e</td><td>f</td></tr></table>"
    )


def test_squaring_never_cuts_a_filled_cell() -> None:
    # Most rows have one cell, but the last row's third cell has text, so the width is 3.
    otsl = "<fcel>a<nl><fcel>b<nl><fcel>c<nl><fcel>d<ecel><fcel>e<nl>"
    assert otsl_to_html(otsl) == (
        "<table><tr><td>a</td><td></td><td></td></tr><tr><td>b</td><td></td><td></td></tr>"
        "<tr><td>c</td><td></td><td></td></tr><tr><td>d</td><td></td><td>e</td></tr></table>"
    )


def test_missing_final_nl_and_blank_rows_are_tolerated() -> None:
    assert otsl_to_html("<fcel>a<fcel>b<nl>\n<nl><fcel>c<fcel>d") == (
        "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>"
    )


def test_span_tag_that_no_cell_reaches_becomes_an_empty_cell() -> None:
    assert otsl_to_html("<lcel><fcel>a<nl><fcel>b<fcel>c<nl>") == (
        "<table><tr><td></td><td>a</td></tr><tr><td>b</td><td>c</td></tr></table>"
    )


def test_fcel_without_text_is_an_empty_cell() -> None:
    assert otsl_to_html("<fcel><fcel>x<nl>") == "<table><tr><td></td><td>x</td></tr></table>"


@pytest.mark.parametrize(
    "text", ["", "plain text answer", "<table><tr><td>x</td></tr></table>", "<nl><nl>", "<lcel><ucel><nl>"]
)
def test_answer_without_cells_gives_empty_string(text: str) -> None:
    assert otsl_to_html(text) == ""


# --- spotting -----------------------------------------------------------------------------------------------------

QUAD = "<|LOC_100|><|LOC_200|><|LOC_300|><|LOC_200|><|LOC_300|><|LOC_400|><|LOC_100|><|LOC_400|>"


def test_spotting_quad_is_scaled_to_the_page() -> None:
    polygons, texts = parse_spotting("Hello" + QUAD, (2000, 1000))
    assert polygons == [[(200, 200), (600, 200), (600, 400), (200, 400)]]
    assert texts == ["Hello"]


def test_spotting_two_point_box_becomes_four_corners() -> None:
    polygons, texts = parse_spotting("World<|LOC_0|><|LOC_500|><|LOC_250|><|LOC_600|>", (1000, 2000))
    assert polygons == [[(0, 1000), (250, 1000), (250, 1200), (0, 1200)]]
    assert texts == ["World"]


def test_spotting_reads_one_line_per_text_and_tolerates_spaces_between_tokens() -> None:
    spaced = QUAD.replace("|><|", "|> <|")
    polygons, texts = parse_spotting(f"first line{QUAD}\n second line {spaced}\n", (1000, 1000))
    assert texts == ["first line", "second line"]
    assert polygons == [[(100, 200), (300, 200), (300, 400), (100, 400)]] * 2


def test_spotting_wrapped_format_parses_the_same() -> None:
    entry = "<|TEXT_START|>{}<|TEXT_END|><|LOC_BEGIN|>" + QUAD + "<|LOC_END|>"
    wrapped = entry.format("Héllo") + entry.format("x")
    polygons, texts = parse_spotting(wrapped, (1000, 1000))
    assert texts == ["Héllo", "x"]
    assert len(polygons) == 2


def test_spotting_drops_odd_runs_and_trailing_text_and_clips_to_the_page() -> None:
    text = "bad<|LOC_1|><|LOC_2|><|LOC_3|>good<|LOC_0|><|LOC_0|><|LOC_1200|><|LOC_999|>tail without location"
    polygons, texts = parse_spotting(text, (100, 100))
    assert texts == ["good"]
    assert polygons == [[(0, 0), (100, 0), (100, 100), (0, 100)]]


def test_spotting_without_locations_is_empty() -> None:
    assert parse_spotting("just text", (100, 100)) == ([], [])


# --- the chain ----------------------------------------------------------------------------------------------------


def test_none_answer_is_empty_content() -> None:
    assert postprocess_output(None, task="ocr", label="text") == ""
    assert postprocess_output(None, task="table", label="table") == ""


def test_table_answer_becomes_html() -> None:
    assert postprocess_output("<fcel>a<nl>", task="table", label="table") == "<table><tr><td>a</td></tr></table>"


def test_table_answer_that_is_not_otsl_is_kept_raw() -> None:
    assert postprocess_output("no table here", task="table", label="table") == "no table here"


def test_formula_answer_gets_display_math() -> None:
    assert postprocess_output("\\[E=mc^2\\]", task="formula", label="display_formula") == " $$ E=mc^2 $$ "


def test_otsl_is_not_converted_for_other_tasks() -> None:
    assert postprocess_output("<fcel>a<nl>", task="ocr", label="text") == "<fcel>a<nl>"


def test_spotting_content_is_the_texts_separated_by_blank_lines() -> None:
    assert postprocess_output(f"Hello{QUAD}World{QUAD}", task="spotting", label="spotting") == "Hello\n\nWorld"


def test_repetition_is_cut_before_latex_is_rewritten() -> None:
    text = "\n".join(["\\(x\\)"] * 12)
    assert postprocess_output(text, task="ocr", label="text") == " $ x $"


def test_clean_output_is_what_parse_spotting_should_see() -> None:
    assert clean_output(None, task="spotting", label="spotting") == ""
    assert clean_output("a\\(b\\)" + QUAD, task="spotting", label="spotting") == "a $ b $" + QUAD
