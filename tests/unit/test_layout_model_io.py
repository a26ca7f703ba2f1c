"""Inputs and outputs of the PP-DocLayoutV2/V3 layout models and the PP-LCNet orientation classifier, on
hand-built values (layout/pp_doclayout.py, layout/pp_lcnet.py)."""

from __future__ import annotations

import numpy as np

from layout.labels import PP_DOCLAYOUT_LABELS
from layout.pp_doclayout import decode, preprocess, reading_ranks
from layout.pp_lcnet import angles
from layout.pp_lcnet import preprocess as preprocess_orientation

BIG = 20.0  # a logit whose sigmoid is 1 for all purposes


def _precedence(order: list[int]) -> np.ndarray:
    """Order logits that say: queries are read in `order` (a list of query indices)."""
    position = {query: rank for rank, query in enumerate(order)}
    n = len(order)
    logits = np.full((n, n), -BIG)
    for i in range(n):
        for j in range(n):
            if position[i] < position[j]:
                logits[i, j] = BIG
    return logits


def test_reading_ranks_recover_the_order_the_pairwise_logits_state():
    assert reading_ranks(_precedence([2, 0, 3, 1])).tolist() == [1, 3, 0, 2]


def test_reading_ranks_of_undecided_pairs_keep_query_order():
    assert reading_ranks(np.zeros((3, 3))).tolist() == [0, 1, 2]


def test_preprocess_gives_rgb_in_zero_to_one_at_the_input_size():
    page = np.zeros((100, 50, 3), np.uint8)
    page[..., 0] = 255  # pure blue in BGR
    batch = preprocess([page, page], size=(32, 16))
    assert batch.shape == (2, 3, 16, 32) and batch.dtype == np.float32
    assert np.allclose(batch[0, 2], 1.0) and np.allclose(batch[0, :2], 0.0)


def test_decode_scales_boxes_to_the_page_and_attaches_the_reading_rank():
    logits = np.full((3, 25), -BIG)
    logits[0, 22] = BIG  # text
    logits[1, 21] = 0.0  # table at score 0.5
    boxes = np.array([[0.5, 0.25, 0.5, 0.1], [0.5, 0.75, 1.0, 0.5], [0.1, 0.1, 0.1, 0.1]])
    found = decode(logits, boxes, _precedence([1, 0, 2]), (1000, 2000), PP_DOCLAYOUT_LABELS, min_score=0.3)
    assert [(d.label, d.bbox, d.model_order) for d in found] == [
        ("text", (250.0, 400.0, 750.0, 600.0), 1.0),
        ("table", (0.0, 1000.0, 1000.0, 2000.0), 0.0),
    ]
    assert found[1].score == 0.5 and found[0].cls_id == 22


def test_decode_lets_one_query_propose_two_classes_and_keeps_at_most_one_per_query_slot():
    logits = np.full((2, 25), -BIG)
    logits[0, 22] = BIG
    logits[0, 17] = 2.0  # the same box is also a fairly likely paragraph_title
    logits[1, 14] = 1.0
    found = decode(logits, np.full((2, 4), 0.5), np.zeros((2, 2)), (100, 100), PP_DOCLAYOUT_LABELS, min_score=0.1)
    assert [d.label for d in found] == ["text", "paragraph_title"]  # top-2 pairs of 2 queries


def test_orientation_input_is_the_centre_crop_of_the_short_side_resize_normalised_in_bgr():
    page = np.zeros((600, 400, 3), np.uint8)
    page[:, :, 2] = 255  # red
    batch = preprocess_orientation([page])
    assert batch.shape == (1, 3, 224, 224) and batch.dtype == np.float32
    blue, green, red = batch[0, :, 112, 112]
    assert np.isclose(blue, -0.485 / 0.229) and np.isclose(green, -0.456 / 0.224)
    assert np.isclose(red, (1 - 0.406) / 0.225)


def test_orientation_answer_is_the_label_of_the_best_logit():
    labels = {0: "0", 1: "90", 2: "180", 3: "270"}
    assert angles(np.array([[0.1, 3.0, 0.2, 0.0], [0.0, 0.0, 0.0, 9.0]]), labels) == [90, 270]
