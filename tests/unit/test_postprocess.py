from __future__ import annotations

import pytest

from layout.labels import LABEL_TO_ID, resolve_per_class
from layout.postprocess import LayoutBox, PostprocessOptions, filter_overlaps, postprocess_detections
from layout.types import BBox, Detection
from serve.backends.base import RecognitionCapabilities
from serve.config import LayoutDefaults, ServiceConfig
from serve.pipeline import ParseOptions
from serve.protocol import LayoutParsingRequest

PORTRAIT = (1000, 1400)
LANDSCAPE = (1400, 1000)


def det(label: str, bbox: BBox, score: float = 0.9, order: float | None = None) -> Detection:
    return Detection(cls_id=LABEL_TO_ID[label], label=label, score=score, bbox=bbox, model_order=order)


def box(label: str, coordinate: tuple[int, int, int, int]) -> LayoutBox:
    return LayoutBox(cls_id=LABEL_TO_ID[label], label=label, score=0.9, coordinate=coordinate, order=None)


def options(**overrides: object) -> PostprocessOptions:
    """Everything off except what a test turns on: no threshold, no NMS, no unclip, no containment merging; the
    configured large-image rule and shape mode."""
    settings: dict[str, object] = {
        "threshold": 0.0, "nms": False, "unclip_ratio": 1.0, "merge_mode": "union", "shape_mode": "auto",
        "large_image_ratio_landscape": LayoutDefaults().large_image_ratio_landscape,
        "large_image_ratio_portrait": LayoutDefaults().large_image_ratio_portrait,
    }
    settings.update(overrides)
    return PostprocessOptions(**settings)  # type: ignore[arg-type]


def shipped_options() -> PostprocessOptions:
    """What a request with every layout field null gets from the default configuration."""
    request = LayoutParsingRequest(file="unused")
    return ParseOptions.from_request(request, ServiceConfig(), RecognitionCapabilities()).postprocess


def run(detections: list[Detection], page: tuple[int, int] = PORTRAIT, **overrides: object) -> list[LayoutBox]:
    return postprocess_detections(detections, page, options(**overrides))


def labels(boxes: list[LayoutBox]) -> list[str]:
    return [b.label for b in boxes]


# --- threshold ------------------------------------------------------------------------------------------------


def test_scalar_threshold_keeps_only_scores_above_it() -> None:
    found = run([det("text", (0, 0, 10, 10), 0.3), det("text", (0, 20, 10, 30), 0.7)], threshold=0.5)
    assert [b.score for b in found] == [0.7]


def test_per_class_threshold_is_looked_up_by_class_id() -> None:
    detections = [det("text", (0, 0, 10, 10), 0.7), det("table", (0, 20, 10, 30), 0.7)]
    found = run(detections, threshold={LABEL_TO_ID["text"]: 0.8, LABEL_TO_ID["table"]: 0.6})
    assert labels(found) == ["table"]


def test_per_class_threshold_falls_back_to_half_for_a_missing_class() -> None:
    detections = [det("table", (0, 0, 10, 10), 0.45), det("table", (0, 20, 10, 30), 0.55)]
    found = run(detections, threshold={LABEL_TO_ID["text"]: 0.1})
    assert [b.score for b in found] == [0.55]


def test_default_options_use_the_shipped_per_class_thresholds() -> None:
    detections = [det("text", (0, 0, 10, 10), 0.45), det("table", (0, 20, 10, 30), 0.45)]
    assert labels(postprocess_detections(detections, PORTRAIT, shipped_options())) == ["text"]


# --- NMS ------------------------------------------------------------------------------------------------------


def test_nms_on_removes_the_lower_scored_same_class_duplicate() -> None:
    found = run([det("text", (0, 0, 100, 100), 0.6), det("text", (0, 0, 100, 100), 0.9)], nms=True)
    assert [b.score for b in found] == [0.9]


def test_nms_off_really_keeps_duplicates() -> None:
    duplicates = [det("text", (0, 0, 100, 100), 0.6), det("text", (0, 0, 100, 100), 0.9)]
    assert len(run(duplicates, nms=False)) == 2
    assert len(run(duplicates, nms=False, merge_mode="large")) == 2


def test_nms_suppresses_same_class_above_0_6_iou_but_not_other_classes() -> None:
    # IoU = 80*100 / (100*100 + 100*100 - 80*100) ≈ 0.67
    first, shifted = (0, 0, 100, 100), (20, 0, 120, 100)
    assert len(run([det("text", first), det("text", shifted, 0.8)], nms=True)) == 1
    assert len(run([det("text", first), det("table", shifted, 0.8)], nms=True)) == 2


def test_nms_suppresses_other_classes_only_above_0_98_iou() -> None:
    almost_identical = [det("text", (0, 0, 1000, 100), 0.9), det("table", (0, 0, 1001, 100), 0.8)]
    assert labels(run(almost_identical, nms=True)) == ["text"]


def test_nms_keeps_the_input_order_of_survivors() -> None:
    found = run([det("table", (0, 500, 10, 510), 0.5), det("text", (0, 0, 10, 10), 0.9)], nms=True)
    assert labels(found) == ["table", "text"]


# --- large images ---------------------------------------------------------------------------------------------


def test_page_sized_image_is_dropped_on_a_portrait_page_above_93_percent() -> None:
    big_image = det("image", (0, 0, 1000, 1320))  # 94 % of 1000x1400
    found = run([big_image, det("text", (10, 10, 100, 50))], page=PORTRAIT)
    assert labels(found) == ["text"]


def test_image_covering_90_percent_survives_portrait_but_not_landscape() -> None:
    portrait_image = det("image", (0, 0, 1000, 1260))  # 90 % of 1000x1400
    landscape_image = det("image", (0, 0, 1260, 1000))  # 90 % of 1400x1000
    text = det("text", (10, 10, 100, 50))
    assert labels(run([portrait_image, text], page=PORTRAIT)) == ["image", "text"]
    assert labels(run([landscape_image, text], page=LANDSCAPE)) == ["text"]


def test_page_sized_image_is_kept_when_it_is_all_there_is() -> None:
    assert labels(run([det("image", (0, 0, 1000, 1400))])) == ["image"]


def test_only_the_image_label_is_dropped_for_covering_the_page() -> None:
    assert labels(run([det("table", (0, 0, 1000, 1400)), det("text", (10, 10, 100, 50))])) == ["table", "text"]


# --- containment / merge modes --------------------------------------------------------------------------------

OUTER, INNER = (0, 0, 500, 500), (100, 100, 200, 200)


def test_merge_mode_large_keeps_the_outer_box_and_drops_the_contained_one() -> None:
    found = run([det("table", OUTER), det("text", INNER)], merge_mode="large")
    assert labels(found) == ["table"]


def test_merge_mode_small_keeps_the_inner_box_and_drops_the_container() -> None:
    found = run([det("table", OUTER), det("text", INNER)], merge_mode="small")
    assert labels(found) == ["text"]


def test_merge_mode_union_keeps_both() -> None:
    found = run([det("table", OUTER), det("text", INNER)], merge_mode="union")
    assert labels(found) == ["table", "text"]


def test_merge_mode_is_taken_from_the_outer_box_class() -> None:
    table_large = {LABEL_TO_ID["table"]: "large"}
    text_large = {LABEL_TO_ID["text"]: "large"}
    assert labels(run([det("table", OUTER), det("text", INNER)], merge_mode=table_large)) == ["table"]
    assert labels(run([det("table", OUTER), det("text", INNER)], merge_mode=text_large)) == ["table", "text"]


def test_per_class_merge_mode_falls_back_to_union_for_a_missing_class() -> None:
    found = run([det("table", OUTER), det("text", INNER)], merge_mode={LABEL_TO_ID["chart"]: "large"})
    assert labels(found) == ["table", "text"]


def test_partially_overlapping_boxes_are_not_contained() -> None:
    found = run([det("table", OUTER), det("text", (400, 400, 600, 600))], merge_mode="large")
    assert labels(found) == ["table", "text"]


def test_formula_box_never_suppresses_the_text_it_contains() -> None:
    found = run([det("display_formula", OUTER), det("text", INNER)], merge_mode="large")
    assert labels(found) == ["display_formula", "text"]


def test_inline_formula_inside_text_does_not_remove_the_text_in_small_mode() -> None:
    found = run([det("text", OUTER), det("inline_formula", INNER)], merge_mode="small")
    assert labels(found) == ["text", "inline_formula"]


def test_text_box_in_large_mode_still_absorbs_the_formula_it_contains() -> None:
    found = run([det("text", OUTER), det("inline_formula", INNER)], merge_mode="large")
    assert labels(found) == ["text"]


def test_formula_box_still_suppresses_a_contained_formula() -> None:
    found = run([det("display_formula", OUTER), det("inline_formula", INNER)], merge_mode="large")
    assert labels(found) == ["display_formula"]


def test_unknown_merge_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="bogus"):
        options(merge_mode={LABEL_TO_ID["text"]: "bogus"})


# --- order sort, unclip, clip ---------------------------------------------------------------------------------


def test_boxes_are_sorted_by_model_order_stably_with_unordered_last() -> None:
    detections = [
        det("text", (0, 0, 10, 10), order=None),
        det("table", (0, 20, 10, 30), order=2.0),
        det("doc_title", (0, 40, 10, 50), order=1.0),
        det("chart", (0, 60, 10, 70), order=2.0),
    ]
    assert labels(run(detections)) == ["doc_title", "table", "chart", "text"]


def test_scalar_unclip_scales_around_the_centre() -> None:
    (found,) = run([det("text", (100, 100, 200, 300))], unclip_ratio=2.0)
    assert found.coordinate == (50, 0, 250, 400)


def test_width_height_unclip_scales_each_axis_separately() -> None:
    (found,) = run([det("text", (100, 100, 200, 300))], unclip_ratio=(1.5, 1.0))
    assert found.coordinate == (75, 100, 225, 300)


def test_per_class_unclip_applies_to_its_class_only() -> None:
    detections = [det("text", (100, 100, 200, 200)), det("table", (300, 300, 400, 400))]
    found = run(detections, unclip_ratio={LABEL_TO_ID["text"]: (2.0, 2.0)})
    assert [b.coordinate for b in found] == [(50, 50, 250, 250), (300, 300, 400, 400)]


def test_coordinates_are_rounded_to_ints_and_clipped_to_the_page() -> None:
    (found,) = run([det("text", (-20.0, 10.4, 1200.0, 99.6))])
    assert found.coordinate == (0, 10, 1000, 100)
    assert all(isinstance(v, int) for v in found.coordinate)


def test_boxes_left_empty_by_clipping_are_dropped() -> None:
    assert run([det("text", (1100, 10, 1200, 50)), det("text", (10, 10, 10.2, 50))]) == []


# --- order numbering ------------------------------------------------------------------------------------------


def test_order_numbers_skip_figures_tables_and_page_furniture() -> None:
    names = ["doc_title", "image", "text", "footer", "table", "paragraph_title", "figure_title"]
    detections = [det(name, (0, 20 * i, 10, 20 * i + 10), order=float(i)) for i, name in enumerate(names)]
    assert [b.order for b in run(detections)] == [1, None, 2, None, None, 3, None]


# --- filter_overlaps (§5.4 step 1) ----------------------------------------------------------------------------


def test_filter_overlaps_removes_reference_boxes() -> None:
    assert labels(filter_overlaps([box("reference", (0, 0, 100, 100)), box("text", (0, 200, 100, 300))])) == ["text"]


def test_filter_overlaps_removes_boxes_thinner_than_six_pixels() -> None:
    too_narrow, six_high, too_low = (0, 0, 5, 100), (0, 200, 100, 206), (0, 300, 100, 305)
    found = filter_overlaps([box("text", too_narrow), box("text", six_high), box("number", too_low)])
    assert [b.coordinate for b in found] == [six_high]


def test_filter_overlaps_removes_inline_formula_overlapping_another_box() -> None:
    found = filter_overlaps([box("text", (0, 0, 500, 100)), box("inline_formula", (100, 10, 200, 40))])
    assert labels(found) == ["text"]


def test_filter_overlaps_keeps_inline_formula_overlapping_half_or_less() -> None:
    # 40 of the formula's 100 px width lie inside the text box.
    found = filter_overlaps([box("text", (0, 0, 500, 100)), box("inline_formula", (460, 10, 560, 40))])
    assert labels(found) == ["text", "inline_formula"]


def test_filter_overlaps_drops_the_smaller_of_a_heavily_overlapping_pair() -> None:
    found = filter_overlaps([box("text", (0, 0, 100, 80)), box("paragraph_title", (0, 0, 100, 100))])
    assert labels(found) == ["paragraph_title"]


def test_filter_overlaps_keeps_text_over_a_figure() -> None:
    found = filter_overlaps([box("image", (0, 0, 500, 500)), box("text", (100, 100, 200, 200))])
    assert labels(found) == ["image", "text"]


def test_filter_overlaps_drops_text_inside_a_table() -> None:
    found = filter_overlaps([box("table", (0, 0, 500, 500)), box("text", (100, 100, 200, 200))])
    assert labels(found) == ["table"]


@pytest.mark.parametrize("inner", ["image", "seal", "chart"])
def test_filter_overlaps_keeps_a_visual_inside_a_table_for_the_table_to_absorb(inner: str) -> None:
    found = filter_overlaps([box("table", (0, 0, 500, 500)), box(inner, (100, 100, 200, 200))])
    assert labels(found) == ["table", inner]


def test_filter_overlaps_drops_the_smaller_of_two_boxes_of_one_visual_label() -> None:
    found = filter_overlaps([box("image", (0, 0, 500, 500)), box("image", (100, 100, 200, 200))])
    assert labels(found) == ["image"]


def test_filter_overlaps_keeps_moderate_overlaps_and_the_input_order() -> None:
    boxes = [box("text", (0, 200, 100, 300)), box("doc_title", (0, 0, 100, 100)), box("text", (0, 250, 100, 350))]
    assert filter_overlaps(boxes) == boxes


# --- resolve_per_class ----------------------------------------------------------------------------------------


def test_resolve_per_class_accepts_label_names_and_id_strings_and_ints() -> None:
    assert resolve_per_class({"text": 0.3, "21": 0.6}) == {22: 0.3, 21: 0.6}
    assert resolve_per_class({0: "large"}) == {0: "large"}


@pytest.mark.parametrize("bad_key", ["Text", "texts", "25", "-1", " 22", "2.0", ""])
def test_resolve_per_class_rejects_a_key_that_names_no_class(bad_key: str) -> None:
    with pytest.raises(ValueError, match=repr(bad_key).replace(".", r"\.")):
        resolve_per_class({bad_key: 0.5})


def test_resolve_per_class_rejects_two_keys_for_the_same_class() -> None:
    with pytest.raises(ValueError, match="twice"):
        resolve_per_class({"text": 0.3, "22": 0.4})


def test_resolve_per_class_rejects_bool_keys() -> None:
    with pytest.raises(ValueError, match="True"):
        resolve_per_class({True: 0.3})  # type: ignore[dict-item]
