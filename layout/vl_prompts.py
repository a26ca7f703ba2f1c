"""Which PaddleOCR-VL task each block is recognised with, its prompt, and its pixel budget (spec §5.5, §5.6).

A "task" names one way of asking the VLM about a crop. Task names equal the `promptLabel` values (spec §2), so a
page recognised without layout detection maps its prompt label straight onto a task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from layout.labels import FORMULA_NUMBER_LABEL, IMAGE_LABELS, PROMPT_LABELS

OCR = "ocr"
TABLE = "table"
CHART = "chart"
FORMULA = "formula"
SEAL = "seal"
SPOTTING = "spotting"

# The exact prompt texts the model was trained on (spec §5.5); any other wording degrades its output.
PROMPTS: dict[str, str] = {
    OCR: "OCR:",
    TABLE: "Table Recognition:",
    CHART: "Chart Recognition:",
    FORMULA: "Formula Recognition:",
    SEAL: "Seal Recognition:",
    SPOTTING: "Spotting:",
}

# Pixel budgets (spec §5.6). The defaults are 144·28² and 1280·28², i.e. at most 1280 visual tokens per crop.
DEFAULT_MIN_PIXELS = 112_896
DEFAULT_MAX_PIXELS = 1_003_520
# Spotting reads a whole page at once and needs the finer grid; upstream fixes its budget and ignores overrides.
SPOTTING_MIN_PIXELS = 112_896
SPOTTING_MAX_PIXELS = 1_605_632
# Tasks whose budget `vlmExtraArgs.<task>_{min,max}_pixels` may override (spec §2).
EXTRA_ARGS_TASKS: frozenset[str] = frozenset({OCR, TABLE, CHART, FORMULA, SEAL})


def task_for_label(
    label: str, *, use_chart_recognition: bool, use_seal_recognition: bool, use_ocr_for_image_block: bool
) -> str | None:
    """The task a layout block is recognised with (spec §5.5), or None when it is kept as a picture instead.

    Only for blocks from layout detection; a page recognised without it goes through `task_for_prompt_label`,
    because there `chart` and `seal` are explicit requests and are recognised whatever the flags say (spec §5.9).
    """
    if FORMULA in label and label != FORMULA_NUMBER_LABEL:
        return FORMULA
    if label == TABLE:
        return TABLE
    if label == CHART:
        return CHART if use_chart_recognition else None
    if label == SEAL:
        return SEAL if use_seal_recognition else None
    if label in IMAGE_LABELS:
        return OCR if use_ocr_for_image_block else None
    return OCR


def task_for_prompt_label(prompt_label: str) -> str:
    """The task for a whole page when layout detection is off: the `promptLabel` itself (spec §2, §5.9).

    Raises ValueError for anything but the six accepted values; the request schema should have rejected it (422).
    """
    if prompt_label not in PROMPT_LABELS:
        raise ValueError(f"promptLabel must be one of {', '.join(PROMPT_LABELS)}, got {prompt_label!r}")
    return prompt_label


@dataclass(frozen=True)
class PixelBudget:
    """Bounds on a crop's area after smart resize; `max_pixels` caps the visual tokens (area / 28²) it costs."""

    min_pixels: int
    max_pixels: int

    def __post_init__(self) -> None:
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ValueError(f"need 0 < min_pixels <= max_pixels, got {self.min_pixels} and {self.max_pixels}")


def pixel_budget(
    task: str, *, min_pixels: int | None, max_pixels: int | None, extra_args: Mapping[str, Any] | None
) -> PixelBudget:
    """The budget for one task (spec §5.6): `vlmExtraArgs.<task>_{min,max}_pixels`, else the request's
    `minPixels`/`maxPixels`, else the defaults — resolved per bound, so an override of one keeps the other.

    Spotting always gets its fixed budget. A null extra-args value counts as absent. Raises ValueError for an
    extra-args value that is not a positive int (upstream would crash inside the VLM client) or for a budget
    whose bounds cross, so the caller can answer 422 instead of sending a request vLLM rejects.
    """
    if task == SPOTTING:
        return PixelBudget(SPOTTING_MIN_PIXELS, SPOTTING_MAX_PIXELS)
    if task not in EXTRA_ARGS_TASKS:
        raise ValueError(f"unknown task {task!r}")
    extras = extra_args or {}
    low = _pick(extras, f"{task}_min_pixels", min_pixels, DEFAULT_MIN_PIXELS)
    high = _pick(extras, f"{task}_max_pixels", max_pixels, DEFAULT_MAX_PIXELS)
    return PixelBudget(low, high)


def _pick(extras: Mapping[str, Any], key: str, requested: int | None, default: int) -> int:
    value = extras.get(key)
    if value is None:
        return default if requested is None else requested
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"vlmExtraArgs.{key} must be a positive integer, got {value!r}")
    return value
