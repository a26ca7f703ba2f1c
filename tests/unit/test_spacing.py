"""Inter-word spaces OCR dropped, found and put back (layout/spacing.py)."""

from __future__ import annotations

import numpy as np

from layout.spacing import SpacingRules, respaced, runs_together, widened_gaps

RULES = SpacingRules()

HEIGHT = 50
WIDTH = 60
INK_TOP, INK_BOTTOM = 10, 40
# Blank runs by columns: the left margin, a narrow gap inside a word, a word gap, the right margin.
BARS = [(5, 10), (12, 17), (23, 28)]
MIN_RUN = round(RULES.min_gap_share * HEIGHT)


def crop(paper: int = 255, ink: int = 0) -> np.ndarray:
    image = np.full((HEIGHT, WIDTH, 3), paper, dtype=np.uint8)
    for x1, x2 in BARS:
        image[INK_TOP:INK_BOTTOM, x1:x2] = ink
    return image


def expected_columns(widen: int = RULES.widen, min_run: int = MIN_RUN) -> list[int]:
    blank_runs = [range(0, 5), range(10, 12), range(17, 23), range(28, WIDTH)]
    ink_runs = [range(x1, x2) for x1, x2 in BARS]
    runs = sorted([*blank_runs, *ink_runs], key=lambda run: run.start)
    columns: list[int] = []
    for run in runs:
        repeat = widen if run in blank_runs and len(run) >= min_run else 1
        columns += [x for x in run for _ in range(repeat)]
    return columns


def test_a_long_run_of_latin_letters_runs_together():
    assert runs_together("Compositionofthepretraining data")
    assert runs_together("Compositionofthe")


def test_a_word_of_max_word_letters_does_not_run_together_and_one_letter_more_does():
    assert RULES.max_word_letters == 12
    assert not runs_together("a considerable amount")
    assert runs_together("independently")


def test_max_word_letters_is_configurable():
    assert not runs_together("Compositionofthe", SpacingRules(max_word_letters=16))
    assert runs_together("Compositionofthe", SpacingRules(max_word_letters=15))


def test_digits_and_punctuation_break_a_run():
    assert not runs_together("pretraining2023datasets")
    assert not runs_together("pretraining-composition")


def test_cjk_text_never_runs_together():
    assert not runs_together("预训练数据的组成部分包括网页书籍论文和代码等多种来源的文本内容")


def test_respaced_accepts_spaces_added_between_latin_letters():
    assert respaced("Compositionofthepretraining data", "Composition of the pretraining data") == (
        "Composition of the pretraining data"
    )


def test_respaced_accepts_spaces_added_next_to_digits():
    assert respaced("Table12shows", "Table 12 shows") == "Table 12 shows"


def test_respaced_accepts_spaces_between_accented_latin_letters():
    assert respaced("lapremièreétude", "la première étude") == "la première étude"


def test_respaced_rejects_a_reread_that_changes_a_letter():
    assert respaced("Compositionofthe", "Composition of tne") is None


def test_respaced_rejects_a_reread_that_drops_an_existing_space():
    assert respaced("Composition ofthe data", "Compositionof the data") is None
    assert respaced("of the", "ofthe") is None


def test_respaced_rejects_a_space_added_between_cjk_characters():
    assert respaced("预训练数据", "预训练 数据") is None


def test_respaced_rejects_a_space_between_a_latin_letter_and_a_cjk_character():
    assert respaced("GPT模型", "GPT 模型") is None


def test_respaced_rejects_a_space_beside_punctuation():
    assert respaced("data,and", "data, and") is None


def test_respaced_rejects_a_doubled_space():
    assert respaced("ofthe", "of  the") is None


def test_respaced_rejects_a_space_added_at_the_end():
    assert respaced("ofthe", "ofthe ") is None


def test_respaced_rejects_a_space_added_at_the_start():
    assert respaced("ofthe", " ofthe") is None


def test_respaced_returns_none_when_the_reread_is_the_same():
    assert respaced("Compositionofthe", "Compositionofthe") is None


def test_widened_gaps_doubles_blank_runs_at_least_min_gap_share_wide_and_keeps_the_rest():
    image = crop()
    widened = widened_gaps(image)
    columns = expected_columns()
    assert MIN_RUN == 3
    assert widened.shape == (HEIGHT, len(columns), 3)
    assert widened.shape[1] == WIDTH + 5 + 6 + 32
    assert np.array_equal(widened, image[:, columns])


def test_widened_gaps_keeps_every_ink_column_once_and_in_order():
    image = crop()
    widened = widened_gaps(image)
    inked = [x for x in range(widened.shape[1]) if (widened[:, x] == 0).any()]
    assert len(inked) == sum(x2 - x1 for x1, x2 in BARS)
    assert np.array_equal(widened[:, inked], image[:, [x for x1, x2 in BARS for x in range(x1, x2)]])


def test_widened_gaps_tells_ink_from_a_tinted_paper():
    image = crop(paper=200, ink=60)
    assert np.array_equal(widened_gaps(image), image[:, expected_columns()])


def test_widened_gaps_widens_by_the_configured_factor():
    image = crop()
    rules = SpacingRules(widen=3)
    assert np.array_equal(widened_gaps(image, rules), image[:, expected_columns(widen=3)])


def test_widened_gaps_with_a_larger_min_gap_share_leaves_the_word_gap_as_it_is():
    image = crop()
    rules = SpacingRules(min_gap_share=0.14)
    min_run = round(rules.min_gap_share * HEIGHT)
    assert min_run == 7
    assert np.array_equal(widened_gaps(image, rules), image[:, expected_columns(min_run=min_run)])
