"""Ink on a page: a pixel is ink when its darkest channel is below the level, whatever its colour."""

import numpy as np

from layout.ink import InkRules, ink_mask, is_blank


def test_a_pixel_is_ink_by_its_darkest_channel_in_any_colour() -> None:
    # BGR: black, pure red, pure blue, pale grey (paper), white.
    page = np.array([[[0, 0, 0], [0, 0, 255], [255, 0, 0], [210, 220, 230], [255, 255, 255]]], dtype=np.uint8)
    assert ink_mask(page).tolist() == [[True, True, True, False, False]]


def test_the_mask_is_the_per_pixel_minimum_over_the_channels_against_the_level() -> None:
    page = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    assert np.array_equal(ink_mask(page), page.min(axis=2) < InkRules().level)


def test_a_few_specks_leave_a_page_blank_and_a_word_does_not() -> None:
    page = np.full((400, 300, 3), 255, dtype=np.uint8)
    page[10, 10] = page[50, 50] = 0
    assert is_blank(page)
    page[200:210, 100:160] = 30
    assert not is_blank(page)
