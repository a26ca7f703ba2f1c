"""What every PaddleOCR-VL backend shares: which regions become VLM requests, with which prompt and image
(spec §5.4–5.6), and how answers become block contents (§5.7). Backends differ only in how they ask."""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from layout.crop import crop, image_path_for
from layout.labels import RUNNING_TEXT_LABELS
from layout.ocr_assign import block_text
from layout.text_layer import LayerReading
from layout.types import Block
from layout.vl_figures import figure_html, figures_in_table, paint_tokens, untokenize
from layout.vl_image import Resample, pillow_bicubic, resize_for_vlm, tighten_formula_crop, upscale_for_spotting
from layout.vl_merge import merge_text_groups, stack_alignments, stack_crops
from layout.vl_output import clean_output, parse_spotting, postprocess_output
from layout.vl_prompts import FORMULA, PROMPTS, SPOTTING, TABLE, pixel_budget, task_for_label, task_for_prompt_label
from serve.backends.base import (
    EngineUsage,
    PageRecognition,
    RecognitionBackend,
    RecognitionCapabilities,
    RecognitionOptions,
    Region,
    RegionReading,
    SpottingResult,
)

# Upstream's defaults for a request that leaves sampling fields null: greedy, 4096 new tokens.
DEFAULT_TEMPERATURE = 0.0
DEFAULT_MAX_NEW_TOKENS = 4096


@dataclass(frozen=True)
class Sampling:
    """A request's sampling fields with upstream's defaults applied (spec §5.6). `top_p` and
    `repetition_penalty` stay None when the request left them out: upstream then sends nothing."""

    temperature: float
    max_tokens: int
    skip_special_tokens: bool
    top_p: float | None = None
    repetition_penalty: float | None = None


def sampling_for(task: str, options: RecognitionOptions, default_max_new_tokens: int) -> Sampling:
    return Sampling(
        temperature=DEFAULT_TEMPERATURE if options.temperature is None else options.temperature,
        max_tokens=options.max_new_tokens or default_max_new_tokens,
        # Spotting answers are located by special tokens (<|LOC_n|>); everything else reads better without.
        skip_special_tokens=task != SPOTTING,
        top_p=options.top_p,
        repetition_penalty=options.repetition_penalty,
    )


@dataclass(frozen=True)
class Answer:
    """The model's raw answer to one call, and what it cost in tokens (0 where the server does not say)."""

    text: str
    prompt_tokens: int = 0
    generated_tokens: int = 0


@dataclass(frozen=True)
class EngineCall:
    """One VLM request: the regions it answers for (a merged text group has several), its task, the task's
    prompt text (spec §5.5) and the image (H×W×3 RGB), already resized to the request's pixel budget. A table's
    image may carry figure tokens, mapped here to the regions they stand for (spec §5.4 step 4)."""

    region_indices: tuple[int, ...]
    task: str
    prompt: str
    image: np.ndarray
    figure_tokens: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PagePlan:
    """The engine requests for one page, the regions' output order (merged groups can move a picture that sat
    between group members to after the group, spec §5.4), and the figures tables absorbed."""

    calls: list[EngineCall]
    order: list[int]
    # Figure region -> the table region that absorbed it.
    absorbed_by: dict[int, int]


def _tasks(regions: Sequence[Region], options: RecognitionOptions) -> list[str | None]:
    if options.prompt_label is not None:
        return [task_for_prompt_label(options.prompt_label)] * len(regions)
    return [
        task_for_label(
            r.label,
            use_chart_recognition=options.use_chart_recognition,
            use_seal_recognition=options.use_seal_recognition,
            use_ocr_for_image_block=options.use_ocr_for_image_block,
        )
        for r in regions
    ]


def plan_calls(
    page: np.ndarray, regions: Sequence[Region], options: RecognitionOptions, answered: Collection[int] = (),
    resample: Resample = pillow_bicubic,
) -> PagePlan:
    """The page's engine requests, their images resized with `resample`; regions in `answered` (read from the text
    layer) get none and merge with none."""
    tasks = _tasks(regions, options)
    blocks = [Block(label=r.label, bbox=r.bbox) for r in regions]
    merged = merge_text_groups(blocks) if options.merge_layout_blocks else [[i] for i in range(len(regions))]
    groups = []
    for group in merged:
        if rest := [i for i in group if i not in answered]:
            groups.append(rest)
        groups.extend([i] for i in group if i in answered)
    labels = [r.label for r in regions]
    boxes = [r.bbox for r in regions]
    calls = []
    absorbed_by: dict[int, int] = {}
    for group in groups:
        task = tasks[group[0]]
        if task is None or group[0] in answered:
            continue
        tokens: Mapping[str, int] = {}
        if len(group) > 1:
            image = stack_crops([crop(page, regions[i].bbox, regions[i].polygon) for i in group], stack_alignments(blocks, group))
        else:
            image = crop(page, regions[group[0]].bbox, regions[group[0]].polygon)
        if task == FORMULA:
            image = tighten_formula_crop(image)
        elif task == SPOTTING:
            image = upscale_for_spotting(image)
        elif task == TABLE and options.prompt_label is None:
            figures = figures_in_table(boxes[group[0]], labels, boxes)
            image = paint_tokens(image, boxes[group[0]], figures, boxes)
            absorbed_by.update(dict.fromkeys(figures.absorbed, group[0]))
            tokens = figures.tokens
        budget = pixel_budget(
            task, min_pixels=options.min_pixels, max_pixels=options.max_pixels, extra_args=options.vlm_extra_args
        )
        calls.append(EngineCall(tuple(group), task, PROMPTS[task], resize_for_vlm(image, budget, resample), tokens))
    return PagePlan(calls, [i for group in groups for i in group], absorbed_by)


class VlRecognitionBackend(RecognitionBackend):
    """Every region of a page is its own VLM request, all in flight at once; the serving engine batches them
    with the regions of every other page and request."""

    capabilities = RecognitionCapabilities(chart_recognition=True, seal_recognition=True)

    async def recognize(
        self, page: np.ndarray, regions: Sequence[Region], options: RecognitionOptions,
        layer: LayerReading | None = None,
    ) -> PageRecognition:
        # Only running text: the layer cannot say what a table's structure or a formula's LaTeX is.
        from_layer = {
            i: lines for i, lines in enumerate(layer.regions if layer is not None else ())
            if lines is not None and regions[i].label in RUNNING_TEXT_LABELS
        }
        plan = await asyncio.to_thread(plan_calls, page, regions, options, from_layer.keys(), self.resample)
        answers = await asyncio.gather(*(self.answer(call, options) for call in plan.calls))
        contents = [""] * len(regions)
        for i, lines in from_layer.items():
            contents[i] = block_text(lines)
        # Member region -> the first region of its merged group.
        leaders: dict[int, int] = {}
        spotting = None
        usage = EngineUsage(
            calls_by_task=dict(Counter(call.task for call in plan.calls)),
            prompt_tokens=sum(a.prompt_tokens for a in answers),
            generated_tokens=sum(a.generated_tokens for a in answers),
        )
        for call, answer in zip(plan.calls, (a.text for a in answers)):
            first = call.region_indices[0]
            label = regions[first].label
            contents[first] = postprocess_output(answer, task=call.task, label=label)
            if call.task == SPOTTING:
                height, width = page.shape[:2]
                spotting = SpottingResult(*parse_spotting(clean_output(answer, task=call.task, label=label), (width, height)))
            for member in call.region_indices[1:]:
                leaders[member] = first
        for call in plan.calls:
            if call.figure_tokens:
                first = call.region_indices[0]
                contents[first] = untokenize(contents[first], {
                    token: figure_html(image_path_for(regions[i].label, regions[i].bbox), contents[i])
                    for token, i in call.figure_tokens.items()
                })
        readings = [
            RegionReading(content, group_leader=leaders.get(i), absorbed_by=plan.absorbed_by.get(i))
            for i, content in enumerate(contents)
        ]
        return PageRecognition(
            regions=readings, order=plan.order, spotting=spotting, usage=usage, from_text_layer=len(from_layer),
            from_engine=sum(len(call.region_indices) for call in plan.calls),
        )

    def resample(self, rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """The bicubic resize of crops to their pixel budget: Pillow's, as PaddleX's own processor does. A backend
        may use another library's (docs/api.md, "VL recognition specifics")."""
        return pillow_bicubic(rgb, size)

    @abstractmethod
    async def answer(self, call: EngineCall, options: RecognitionOptions) -> Answer:
        """The model's raw answer to one call."""
