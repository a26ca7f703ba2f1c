"""Label → VLM task routing, prompt texts and pixel budgets (spec §5.5, §5.6)."""

from __future__ import annotations

import pytest

from layout.labels import PP_DOCLAYOUT_LABELS, PROMPT_LABELS
from layout.vl_prompts import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_PIXELS,
    PROMPTS,
    SPOTTING_MAX_PIXELS,
    SPOTTING_MIN_PIXELS,
    PixelBudget,
    pixel_budget,
    task_for_label,
    task_for_prompt_label,
)

ALL_OFF = {"use_chart_recognition": False, "use_seal_recognition": False, "use_ocr_for_image_block": False}
ALL_ON = {"use_chart_recognition": True, "use_seal_recognition": True, "use_ocr_for_image_block": True}

# Every PP-DocLayoutV2 label with default flags (spec §5.5 table).
ROUTES_WITH_FLAGS_OFF = {
    "abstract": "ocr",
    "algorithm": "ocr",
    "aside_text": "ocr",
    "chart": None,
    "content": "ocr",
    "display_formula": "formula",
    "doc_title": "ocr",
    "figure_title": "ocr",
    "footer": "ocr",
    "footer_image": None,
    "footnote": "ocr",
    "formula_number": "ocr",
    "header": "ocr",
    "header_image": None,
    "image": None,
    "inline_formula": "formula",
    "number": "ocr",
    "paragraph_title": "ocr",
    "reference": "ocr",
    "reference_content": "ocr",
    "seal": None,
    "table": "table",
    "text": "ocr",
    "vertical_text": "ocr",
    "vision_footnote": "ocr",
}


def test_prompts_are_the_exact_trained_texts() -> None:
    assert PROMPTS == {
        "ocr": "OCR:",
        "table": "Table Recognition:",
        "chart": "Chart Recognition:",
        "formula": "Formula Recognition:",
        "seal": "Seal Recognition:",
        "spotting": "Spotting:",
    }


def test_routing_table_covers_every_layout_label() -> None:
    assert set(ROUTES_WITH_FLAGS_OFF) == set(PP_DOCLAYOUT_LABELS)


@pytest.mark.parametrize("label", PP_DOCLAYOUT_LABELS)
def test_every_label_routes_per_spec_with_flags_off(label: str) -> None:
    assert task_for_label(label, **ALL_OFF) == ROUTES_WITH_FLAGS_OFF[label]


@pytest.mark.parametrize("label", PP_DOCLAYOUT_LABELS)
def test_flags_on_only_turn_pictures_charts_and_seals_into_tasks(label: str) -> None:
    turned_on = {"chart": "chart", "seal": "seal", "image": "ocr", "header_image": "ocr", "footer_image": "ocr"}
    assert task_for_label(label, **ALL_ON) == turned_on.get(label, ROUTES_WITH_FLAGS_OFF[label])


@pytest.mark.parametrize(
    ("flag", "label", "task"),
    [
        ("use_chart_recognition", "chart", "chart"),
        ("use_seal_recognition", "seal", "seal"),
        ("use_ocr_for_image_block", "image", "ocr"),
    ],
)
def test_each_flag_affects_only_its_own_label(flag: str, label: str, task: str) -> None:
    flags = {**ALL_OFF, flag: True}
    assert task_for_label(label, **flags) == task
    others = {"chart", "seal", "image"} - {label}
    assert all(task_for_label(other, **flags) is None for other in others)


def test_unknown_label_containing_formula_is_a_formula_and_others_are_ocr() -> None:
    assert task_for_label("formula", **ALL_OFF) == "formula"
    assert task_for_label("some_new_label", **ALL_OFF) == "ocr"


@pytest.mark.parametrize("prompt_label", PROMPT_LABELS)
def test_prompt_label_is_its_own_task_whatever_the_flags(prompt_label: str) -> None:
    assert task_for_prompt_label(prompt_label) == prompt_label
    assert prompt_label in PROMPTS


@pytest.mark.parametrize("prompt_label", ["OCR", "text", "image", ""])
def test_unknown_prompt_label_is_rejected(prompt_label: str) -> None:
    with pytest.raises(ValueError, match="promptLabel"):
        task_for_prompt_label(prompt_label)


def test_budget_defaults_to_144_to_1280_tokens() -> None:
    budget = pixel_budget("ocr", min_pixels=None, max_pixels=None, extra_args=None)
    assert budget == PixelBudget(112_896, 1_003_520) == PixelBudget(DEFAULT_MIN_PIXELS, DEFAULT_MAX_PIXELS)


def test_request_bounds_override_defaults_each_on_its_own() -> None:
    assert pixel_budget("table", min_pixels=50_000, max_pixels=None, extra_args=None) == PixelBudget(50_000, 1_003_520)
    assert pixel_budget("table", min_pixels=None, max_pixels=500_000, extra_args={}) == PixelBudget(112_896, 500_000)


def test_extra_args_of_the_task_override_the_request_per_bound() -> None:
    extra = {"formula_max_pixels": 2_000_000, "table_min_pixels": 1_000, "temperature": 0.5}
    assert pixel_budget("formula", min_pixels=60_000, max_pixels=800_000, extra_args=extra) == PixelBudget(
        60_000, 2_000_000
    )
    assert pixel_budget("table", min_pixels=60_000, max_pixels=800_000, extra_args=extra) == PixelBudget(
        1_000, 800_000
    )
    assert pixel_budget("ocr", min_pixels=60_000, max_pixels=800_000, extra_args=extra) == PixelBudget(60_000, 800_000)


def test_null_extra_arg_falls_through_to_the_request() -> None:
    budget = pixel_budget("seal", min_pixels=70_000, max_pixels=None, extra_args={"seal_min_pixels": None})
    assert budget == PixelBudget(70_000, 1_003_520)


def test_spotting_budget_is_fixed() -> None:
    extra = {"spotting_min_pixels": 1, "ocr_max_pixels": 5}
    budget = pixel_budget("spotting", min_pixels=1_000, max_pixels=2_000, extra_args=extra)
    assert budget == PixelBudget(112_896, 1_605_632) == PixelBudget(SPOTTING_MIN_PIXELS, SPOTTING_MAX_PIXELS)


@pytest.mark.parametrize("value", [0, -5, 1.5, "100000", True])
def test_bad_extra_arg_value_is_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="chart_max_pixels"):
        pixel_budget("chart", min_pixels=None, max_pixels=None, extra_args={"chart_max_pixels": value})


def test_crossed_bounds_are_rejected() -> None:
    with pytest.raises(ValueError, match="min_pixels <= max_pixels"):
        pixel_budget("ocr", min_pixels=None, max_pixels=None, extra_args={"ocr_min_pixels": 2_000_000})


def test_unknown_task_has_no_budget() -> None:
    with pytest.raises(ValueError, match="unknown task"):
        pixel_budget("text", min_pixels=None, max_pixels=None, extra_args=None)
