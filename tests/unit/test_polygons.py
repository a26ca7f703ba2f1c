"""Region outlines from instance masks, shaped per layoutShapeMode, and crops whited out around them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from layout.polygons import mask_outline, rectangle, shaped_outline, white_outside

PAGE = (400, 200)  # width, height


def _mask_with(polygon, scale: float = 0.5) -> np.ndarray:
    """Mask logits at `scale` of the page: positive inside `polygon`, negative elsewhere."""
    mask = np.full((int(PAGE[1] * scale), int(PAGE[0] * scale)), -5.0, np.float32)
    cv2.fillPoly(mask, [(np.array(polygon) * scale).astype(np.int32)], 5.0)
    return mask


def test_a_masked_region_gives_its_outline_in_page_pixels_clockwise_from_top_left():
    outline = mask_outline(_mask_with([(100, 40), (300, 40), (300, 160), (100, 160)]), (90, 30, 310, 170), PAGE)
    assert len(outline) == 4
    assert all(abs(x - ex) <= 3 and abs(y - ey) <= 3
               for (x, y), (ex, ey) in zip(outline, [(100, 40), (300, 40), (300, 160), (100, 160)]))


def test_an_empty_mask_or_box_gives_no_outline():
    assert mask_outline(np.full((100, 200), -1.0), (10, 10, 100, 100), PAGE) is None
    assert mask_outline(_mask_with([(0, 0), (50, 0), (50, 50), (0, 50)]), (300, 150, 300, 190), PAGE) is None


SLANTED = ((120, 40), (300, 60), (280, 160), (100, 140))
L_SHAPE = ((100, 40), (300, 40), (300, 100), (200, 100), (200, 160), (100, 160))


def _rotated(polygon, degrees: float):
    turn = np.radians(degrees)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    centre = np.mean(polygon, axis=0)
    return tuple(tuple(int(round(v)) for v in (np.array(p) - centre) @ rotation.T + centre) for p in polygon)


SLANTED_L = _rotated(L_SHAPE, 25)


@pytest.mark.parametrize(("polygon", "mode", "expected"), [
    (SLANTED, "rect", rectangle((100, 40, 300, 160))),
    (SLANTED, "poly", SLANTED),
    (None, "auto", rectangle((100, 40, 300, 160))),
    (L_SHAPE, "auto", rectangle((100, 40, 300, 160))),  # its tightest quadrilateral is its box
    (SLANTED_L, "auto", SLANTED_L),
])
def test_shape_modes(polygon, mode, expected):
    assert shaped_outline(polygon, (100, 40, 300, 160), mode) == expected


def test_quad_mode_and_a_slanted_region_in_auto_mode_give_its_tightest_quadrilateral():
    quad = shaped_outline(SLANTED, (100, 40, 300, 160), "quad")
    assert len(quad) == 4 and shaped_outline(SLANTED, (100, 40, 300, 160), "auto") == quad


def test_a_nearly_rectangular_outline_is_reported_as_its_box_in_auto_mode():
    almost = ((100, 40), (300, 41), (300, 160), (101, 160))
    assert shaped_outline(almost, (100, 40, 300, 160), "auto") == rectangle((100, 40, 300, 160))


def test_unknown_shape_mode_is_refused():
    with pytest.raises(ValueError, match="layoutShapeMode"):
        shaped_outline(SLANTED, (100, 40, 300, 160), "circle")


def test_white_outside_keeps_the_region_and_paints_the_corners():
    crop = np.zeros((120, 200, 3), np.uint8)
    painted = white_outside(crop, SLANTED, origin=(100, 40))
    assert (painted[60, 100] == 0).all()  # page point (200, 100), inside
    assert (painted[0, 0] == 255).all() and (painted[119, 199] == 255).all()  # the box's corners, outside
    assert (crop == 0).all()
