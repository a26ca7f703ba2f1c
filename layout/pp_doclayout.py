"""PP-DocLayoutV2/V3 outside the model: the input tensor it expects and its raw outputs turned into detections.

Pure NumPy/OpenCV, so it is tested on hand-built outputs; the backends (`serve/backends/pp_doclayout_*.py`) run
the transformers model between the two. transformers' own image processors for these models need torchvision,
which has no CPU build beside the CPU torch this service installs; these functions do the same work the way
PaddleX does (OpenCV bicubic resize to a fixed square, pixels scaled to 0..1, RGB).

Raw outputs, per image (the model's `forward`, spec §5.3):
* `logits` (Q, C): class logits of the Q queries; a query's score for a class is the sigmoid.
* `boxes` (Q, 4): centre x, centre y, width, height, normalised to 0..1 of the (resized) input.
* `order_logits` (Q, Q): pairwise "query i reads before query j" logits of the reading-order head, for the
  same queries in the same order.
* PP-DocLayoutV3 only, `masks` (Q, h, w): instance-mask logits over the whole input, at a quarter of its size.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from layout.polygons import mask_outline
from layout.types import Detection

# The input square of both published checkpoints (`preprocessor_config.json` size 800×800, no aspect kept).
DEFAULT_INPUT_SIZE = (800, 800)
PIXEL_SCALE = 1 / 255


def preprocess(images: Sequence[np.ndarray], size: tuple[int, int] = DEFAULT_INPUT_SIZE) -> np.ndarray:
    """A (N, 3, H, W) float32 batch from BGR uint8 pages: RGB, bicubic-resized to `size` (width, height),
    scaled to 0..1 (the published processors' mean is 0 and std 1)."""
    batch = np.empty((len(images), 3, size[1], size[0]), np.float32)
    for i, image in enumerate(images):
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        resized = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
        batch[i] = resized.transpose(2, 0, 1) * np.float32(PIXEL_SCALE)
    return batch


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    # The tanh form never overflows (the order head pads with logits of -1e4).
    return 0.5 * (1 + np.tanh(logits.astype(np.float64) / 2))


def reading_ranks(order_logits: np.ndarray) -> np.ndarray:
    """Each query's 0-based reading rank from the pairwise precedence logits (Q, Q).

    Query j collects a vote from every earlier query i < j in proportion to P(i before j), and from every later
    query k > j in proportion to P(k not after j) = 1 − P(j before k); more votes means read later. Ranks are
    the argsort of the votes (stable, so ties keep query order).
    """
    scores = _sigmoid(order_logits)
    votes = np.triu(scores, 1).sum(axis=0) + np.tril(1 - scores.T, -1).sum(axis=0)
    order = np.argsort(votes, kind="stable")
    ranks = np.empty_like(order)
    ranks[order] = np.arange(len(order))
    return ranks


def decode(
    logits: np.ndarray,
    boxes: np.ndarray,
    order_logits: np.ndarray,
    page_size: tuple[int, int],
    labels: Sequence[str],
    min_score: float,
    masks: np.ndarray | None = None,
) -> list[Detection]:
    """Detections of one page, in page pixels, best-first, with the model's reading rank as `model_order` and,
    given `masks`, the region's outline as `polygon`.

    As in RT-DETR's own post-processing, the top Q (query, class) pairs by score are candidates, so a query may
    yield two classes; pairs under `min_score` (the lowest threshold any class may be given) are dropped here,
    the per-class thresholds are applied later by `layout.postprocess`.
    """
    num_queries, num_classes = logits.shape
    scores = _sigmoid(logits)
    flat = scores.ravel()
    top = np.argsort(-flat, kind="stable")[:num_queries]
    ranks = reading_ranks(order_logits)
    width, height = page_size
    scale = np.array([width, height, width, height], np.float64)
    centre, extent = boxes[:, :2].astype(np.float64), boxes[:, 2:].astype(np.float64)
    corners = np.concatenate([centre - extent / 2, centre + extent / 2], axis=1) * scale
    detections = []
    for index in top:
        score = float(flat[index])
        if score < min_score:
            break
        query, cls_id = divmod(int(index), num_classes)
        box = tuple(float(v) for v in corners[query])
        outline = None if masks is None else mask_outline(masks[query], box, page_size)
        detections.append(Detection(cls_id, labels[cls_id], score, box, float(ranks[query]), outline))
    return detections
