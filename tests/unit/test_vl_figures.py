"""Figures inside tables (spec §5.4 step 4): which figures a table absorbs, their tokens, and their return."""

from __future__ import annotations

import itertools

import numpy as np

from layout.vl_figures import figure_html, figures_in_table, paint_tokens, token_numbers, untokenize

TABLE = (100, 100, 900, 700)


def test_token_numbers_avoid_digits_the_model_misreads():
    first = list(itertools.islice(token_numbers(), 10))
    assert first == [2, 3, 4, 5, 6, 7, 8, 22, 23, 24]


def test_only_pictures_wholly_inside_the_table_are_absorbed():
    labels = ["image", "image", "text", "seal", "figure"]
    boxes = [(200, 200, 400, 400), (50, 200, 400, 400), (200, 450, 400, 600), (500, 500, 600, 600),
             (100, 100, 900, 700)]
    figures = figures_in_table(TABLE, labels, boxes)
    assert figures.absorbed == (0, 3, 4)
    assert figures.tokens == {"[F2]": 0, "[F3]": 3, "[F4]": 4}


def test_a_figure_too_small_for_a_legible_token_is_absorbed_without_one():
    figures = figures_in_table(TABLE, ["image", "image"], [(200, 200, 224, 400), (300, 300, 325, 325)])
    assert figures.absorbed == (0, 1)
    assert figures.tokens == {"[F2]": 1}


def test_painting_whites_out_the_figure_and_leaves_the_rest_of_the_table():
    crop = np.full((600, 800, 3), 30, np.uint8)
    figures = figures_in_table(TABLE, ["image"], [(300, 300, 500, 400)])
    painted = paint_tokens(crop, TABLE, figures, [(300, 300, 500, 400)])
    inside = painted[200:300, 200:400]
    assert (inside == 255).mean() > 0.6 and (inside < 128).any()
    assert (painted[:200] == 30).all() and (painted[300:] == 30).all()
    assert (crop == 30).all()  # the caller's crop is untouched


def test_tokens_become_images_with_their_text_and_unknown_tokens_stay():
    replacements = {"[F2]": figure_html("imgs/img_in_image_box_1_2_3_4.jpg", ""),
                    "[F3]": figure_html("imgs/img_in_seal_box_5_6_7_8.jpg", "ACME Ltd")}
    html = untokenize("<td>[F2]</td><td>[F3]</td><td>[F7]</td>", replacements)
    assert html == ('<td><img src="imgs/img_in_image_box_1_2_3_4.jpg" alt="Image" /></td>'
                    '<td><img src="imgs/img_in_seal_box_5_6_7_8.jpg" alt="Image" />\n\nACME Ltd\n\n</td>'
                    "<td>[F7]</td>")
