"""The layout visualisation image: boxes, per-label colours and captions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layout.labels import PP_DOCLAYOUT_LABELS
from layout.visualize import PALETTE, box_caption, draw_layout, label_colour


@dataclass(frozen=True)
class Box:
    label: str
    score: float
    coordinate: tuple[int, int, int, int]
    order: int | None = None


def white(height: int = 200, width: int = 300) -> np.ndarray:
    return np.full((height, width, 3), 255, np.uint8)


def test_draw_layout_draws_on_a_copy() -> None:
    image = white()
    out = draw_layout(image, [Box("text", 0.9, (20, 40, 120, 150), 1)])
    assert out.shape == image.shape
    assert (image == 255).all()
    assert (out != 255).any()


def test_box_outline_uses_the_label_colour_and_leaves_the_inside_untouched() -> None:
    out = draw_layout(white(), [Box("table", 0.8, (20, 60, 200, 180))])
    colour = list(label_colour("table"))
    assert out[120, 20].tolist() == colour  # left edge
    assert out[180, 100].tolist() == colour  # bottom edge
    assert out[120, 100].tolist() == [255, 255, 255]


def test_no_boxes_gives_an_unchanged_copy() -> None:
    image = white()
    out = draw_layout(image, [])
    np.testing.assert_array_equal(out, image)
    assert out is not image


def test_grayscale_and_bgra_pages_are_drawn_in_colour() -> None:
    boxes = [Box("image", 0.5, (10, 30, 100, 100))]
    assert draw_layout(np.full((120, 150), 255, np.uint8), boxes).shape == (120, 150, 3)
    assert draw_layout(np.full((120, 150, 4), 255, np.uint8), boxes).shape == (120, 150, 3)


def test_boxes_touching_the_top_or_leaving_the_page_are_drawn() -> None:
    out = draw_layout(white(), [Box("header", 0.7, (0, 0, 300, 20)), Box("text", 0.6, (-10, 150, 400, 260), 2)])
    assert (out[:20] != 255).any()


def test_known_labels_get_distinct_deterministic_colours() -> None:
    colours = [label_colour(label) for label in PP_DOCLAYOUT_LABELS]
    assert len(set(colours)) == len(PP_DOCLAYOUT_LABELS)
    assert label_colour("text") == label_colour("text")
    assert label_colour("some_new_label") in PALETTE
    assert label_colour("some_new_label") == label_colour("some_new_label")


def test_caption_shows_order_label_and_score() -> None:
    assert box_caption(Box("text", 0.98765, (0, 0, 1, 1), 5)) == "5 text 0.99"
    assert box_caption(Box("image", 0.5, (0, 0, 1, 1))) == "image 0.50"
