"""What the VL backend asks the engine for, per region: prompt text, task, image size after smart resize."""

from __future__ import annotations

import numpy as np

from layout.vl_image import smart_resize
from serve.backends.base import RecognitionOptions, Region
from serve.backends.vl_common import plan_calls

PAGE = np.full((2000, 1600, 3), 255, np.uint8)
PAGE[100:140, 100:700] = 0  # ink for the formula crop to tighten onto


def _plan(regions, **options):
    return plan_calls(PAGE, regions, RecognitionOptions(**options))


def test_each_label_gets_its_prompt_and_pictures_get_no_call():
    regions = [Region("text", (0, 0, 800, 200)), Region("table", (0, 300, 800, 900)),
               Region("display_formula", (90, 90, 710, 150)), Region("image", (0, 1000, 800, 1500)),
               Region("chart", (800, 0, 1600, 600))]
    plan = _plan(regions, merge_layout_blocks=False)
    calls, order = plan.calls, plan.order
    prompts = {c.region_indices: c.prompt for c in calls}
    assert prompts == {(0,): "OCR:", (1,): "Table Recognition:", (2,): "Formula Recognition:"}
    assert order == [0, 1, 2, 3, 4]


def test_chart_and_seal_flags_route_them_to_their_prompts():
    calls = _plan([Region("chart", (0, 0, 800, 600)), Region("seal", (0, 700, 400, 1100))],
                  use_chart_recognition=True, use_seal_recognition=True).calls
    assert [c.task for c in calls] == ["chart", "seal"]


def test_image_sizes_follow_smart_resize_within_the_request_budget():
    calls = _plan([Region("text", (0, 0, 1600, 2000))], min_pixels=50_000, max_pixels=200_000).calls
    assert calls[0].image.shape == (*smart_resize(2000, 1600, min_pixels=50_000, max_pixels=200_000), 3)
    height, width = calls[0].image.shape[:2]
    assert width % 28 == 0 and height % 28 == 0 and width * height <= 200_000


def test_per_category_budget_from_vlm_extra_args_wins():
    calls = _plan([Region("table", (0, 0, 1600, 2000))], max_pixels=1_000_000,
                  vlm_extra_args={"table_min_pixels": 50_000, "table_max_pixels": 100_000}).calls
    height, width = calls[0].image.shape[:2]
    assert width * height <= 100_000


def test_formula_crop_is_tightened_to_its_ink():
    calls = _plan([Region("display_formula", (50, 50, 800, 400))], min_pixels=1, max_pixels=10_000_000).calls
    height, width = calls[0].image.shape[:2]
    assert width / height > 5  # the 600x40 ink line, not the 750x350 box


def test_layout_off_prompt_label_decides_the_task():
    calls = _plan([Region("table", (0, 0, 1600, 2000))], prompt_label="chart").calls
    assert [c.task for c in calls] == ["chart"]


def test_vertically_adjacent_text_beside_a_figure_is_one_call():
    regions = [Region("text", (100, 100, 700, 300)), Region("text", (100, 320, 600, 500)),
               Region("image", (690, 100, 1500, 500))]
    plan = _plan(regions)
    calls, order = plan.calls, plan.order
    assert [c.region_indices for c in calls] == [(0, 1)]
    assert sorted(order) == [0, 1, 2]


def test_a_table_absorbs_the_figures_inside_it_and_its_image_shows_their_tokens():
    page = np.full((1000, 1000, 3), 255, np.uint8)
    page[300:500, 300:500] = 40  # a dark picture in a table cell
    regions = [Region("table", (100, 100, 900, 900)), Region("image", (300, 300, 500, 500)),
               Region("seal", (600, 600, 620, 620)), Region("image", (50, 950, 400, 1000))]
    plan = plan_calls(page, regions, RecognitionOptions(min_pixels=1, max_pixels=10_000_000))
    [table_call] = [c for c in plan.calls if c.task == "table"]
    assert plan.absorbed_by == {1: 0, 2: 0}  # the 20-px seal too, though it is too small for a token
    assert table_call.figure_tokens == {"[F2]": 1}
    figure = table_call.image[200:400, 200:400]
    assert (figure == 255).mean() > 0.5 and (figure < 128).any()  # whited out, with the token's ink


def test_without_layout_detection_a_table_page_absorbs_nothing():
    plan = _plan([Region("table", (0, 0, 1600, 2000))], prompt_label="table")
    assert plan.absorbed_by == {} and plan.calls[0].figure_tokens == {}
