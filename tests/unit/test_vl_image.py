"""Smart resize, VLM input pictures, formula crop tightening and spotting upscaling (spec §5.5, §5.6)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from layout.vl_image import resize_for_vlm, smart_resize, tighten_formula_crop, upscale_for_spotting
from layout.vl_prompts import PixelBudget

DEFAULT = {"min_pixels": 112_896, "max_pixels": 1_003_520}


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1000, 1000), (980, 980)),  # 1008² rounds over the cap, so it is scaled down and floored
        ((3000, 2000), (1204, 812)),  # a big page
        ((2339, 1654), (1176, 840)),  # A4 at 200 dpi
        ((56, 56), (336, 336)),  # scaled up to the minimum and ceiled
        ((10, 5), (476, 252)),  # both sides below one patch: upscaled keeping aspect, then to the minimum
        ((448, 672), (448, 672)),  # already on the grid and within budget
    ],
)
def test_smart_resize_known_values(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert smart_resize(*size, **DEFAULT) == expected


def test_smart_resize_rounds_half_to_even_like_the_server() -> None:
    # 70 / 28 = 2.5 rounds to 2 (Python's round), not 3.
    assert smart_resize(70, 700, min_pixels=784, max_pixels=10_000_000) == (56, 700)


@pytest.mark.parametrize("size", [(28, 7000), (7000, 28), (1, 250)])
def test_smart_resize_rejects_aspect_ratio_above_200(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(*size, **DEFAULT)


def test_smart_resize_accepts_aspect_ratio_of_exactly_200() -> None:
    assert smart_resize(28, 5600, **DEFAULT) == (28, 5600)


def test_smart_resize_keeps_a_sliver_one_patch_thick_instead_of_zero() -> None:
    assert smart_resize(28, 5600, min_pixels=3136, max_pixels=112_896) == (28, 4032)
    assert smart_resize(5600, 28, min_pixels=3136, max_pixels=112_896) == (4032, 28)


@pytest.mark.parametrize("size", [(1000, 1000), (3000, 2000), (56, 56), (10, 5), (2339, 1654), (28, 5600), (123, 4567)])
@pytest.mark.parametrize("budget", [(112_896, 1_003_520), (3136, 112_896), (112_896, 1_605_632)])
def test_smart_resize_output_is_a_fixed_point_within_budget(size: tuple[int, int], budget: tuple[int, int]) -> None:
    low, high = budget
    height, width = smart_resize(*size, min_pixels=low, max_pixels=high)
    assert height % 28 == 0 and width % 28 == 0
    assert height * width <= high
    assert smart_resize(height, width, min_pixels=low, max_pixels=high) == (height, width)


def test_smart_resize_rejects_empty_images() -> None:
    with pytest.raises(ValueError, match="positive"):
        smart_resize(0, 10, **DEFAULT)


def test_resize_for_vlm_returns_rgb_at_the_smart_size() -> None:
    blue_bgr = np.zeros((1000, 1000, 3), dtype=np.uint8)
    blue_bgr[:, :, 0] = 255
    picture = resize_for_vlm(blue_bgr, PixelBudget(**DEFAULT))
    assert picture.shape == (980, 980, 3)
    assert picture[490, 490].tolist() == [0, 0, 255]


def test_resize_for_vlm_keeps_an_image_already_on_the_grid() -> None:
    picture = resize_for_vlm(np.full((448, 672), 7, dtype=np.uint8), PixelBudget(**DEFAULT))
    assert picture.shape == (448, 672, 3)
    assert (picture == 7).all()


def test_resize_for_vlm_resizes_with_the_kernel_it_is_given_to_the_smart_size() -> None:
    asked = []

    def nearest(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        asked.append((rgb.shape, size))
        return cv2.resize(rgb, size[::-1], interpolation=cv2.INTER_NEAREST)

    picture = resize_for_vlm(np.zeros((1000, 1000, 3), dtype=np.uint8), PixelBudget(**DEFAULT), nearest)
    assert asked == [((1000, 1000, 3), (980, 980))] and picture.shape == (980, 980, 3)


def test_resize_for_vlm_rejects_four_channels() -> None:
    with pytest.raises(ValueError, match="BGR"):
        resize_for_vlm(np.zeros((50, 50, 4), dtype=np.uint8), PixelBudget(**DEFAULT))


def formula_crop(background: int = 255, ink: int = 0) -> np.ndarray:
    crop = np.full((40, 60, 3), background, dtype=np.uint8)
    crop[10:20, 20:35] = ink
    return crop


def test_tighten_formula_crop_cuts_to_the_ink_box() -> None:
    crop = formula_crop()
    tight = tighten_formula_crop(crop)
    assert tight.shape == (10, 15, 3)
    np.testing.assert_array_equal(tight, crop[10:20, 20:35])


def test_tighten_formula_crop_stretches_faint_scans() -> None:
    # Ink only 10 levels darker than the paper is still ink once the gray range is stretched.
    assert tighten_formula_crop(formula_crop(background=240, ink=230)).shape == (10, 15, 3)


def test_tighten_formula_crop_works_on_gray() -> None:
    gray = formula_crop()[:, :, 0]
    np.testing.assert_array_equal(tighten_formula_crop(gray), gray[10:20, 20:35])


def test_tighten_formula_crop_leaves_a_blank_crop_alone() -> None:
    blank = np.full((30, 30, 3), 255, dtype=np.uint8)
    assert tighten_formula_crop(blank) is blank


@pytest.mark.parametrize(("rows", "cols"), [(slice(10, 12), slice(5, 50)), (slice(5, 30), slice(20, 22))])
def test_tighten_formula_crop_keeps_the_crop_when_the_ink_is_2px_or_thinner(rows: slice, cols: slice) -> None:
    crop = np.full((40, 60, 3), 255, dtype=np.uint8)
    crop[rows, cols] = 0
    assert tighten_formula_crop(crop) is crop


def test_tighten_formula_crop_accepts_ink_3px_thick() -> None:
    crop = np.full((40, 60, 3), 255, dtype=np.uint8)
    crop[10:13, 5:50] = 0
    assert tighten_formula_crop(crop).shape == (3, 45, 3)


def test_upscale_for_spotting_doubles_small_pages() -> None:
    page = np.full((100, 1499, 3), 128, dtype=np.uint8)
    bigger = upscale_for_spotting(page)
    assert bigger.shape == (200, 2998, 3)
    assert int(bigger[100, 1000, 0]) == 128


@pytest.mark.parametrize("shape", [(1500, 100, 3), (100, 1500, 3), (2000, 2000, 3)])
def test_upscale_for_spotting_leaves_pages_with_a_side_of_1500_or_more(shape: tuple[int, int, int]) -> None:
    page = np.zeros(shape, dtype=np.uint8)
    assert upscale_for_spotting(page) is page
