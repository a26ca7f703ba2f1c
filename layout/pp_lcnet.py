"""PP-LCNet document orientation outside the model: its input tensor and its answer (spec §5.2).

The published `PP-LCNet_x1_0_doc_ori` recipe, done with OpenCV on the BGR page (transformers' image processor for
it needs torchvision, like the layout models'): short side resized to 256, centre crop 224×224, pixels scaled to
0..1 and normalised per channel in B, G, R order with ImageNet's statistics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

RESIZE_SHORT = 256
CROP = 224
# ImageNet statistics for the B, G, R channels (the model reads BGR).
BGR_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
BGR_STD = np.array([0.229, 0.224, 0.225], np.float32)
PIXEL_SCALE = 1 / 255


def preprocess(images: Sequence[np.ndarray]) -> np.ndarray:
    """A (N, 3, 224, 224) float32 batch from BGR uint8 pages."""
    batch = np.empty((len(images), 3, CROP, CROP), np.float32)
    for i, image in enumerate(images):
        height, width = image.shape[:2]
        scale = RESIZE_SHORT / min(height, width)
        size = (max(CROP, round(width * scale)), max(CROP, round(height * scale)))
        resized = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        top, left = (size[1] - CROP) // 2, (size[0] - CROP) // 2
        crop = resized[top : top + CROP, left : left + CROP].astype(np.float32) * np.float32(PIXEL_SCALE)
        batch[i] = ((crop - BGR_MEAN) / BGR_STD).transpose(2, 0, 1)
    return batch


def angles(logits: np.ndarray, id2label: Mapping[int, str]) -> list[int]:
    """The clockwise rotation of each page's content: the label (0/90/180/270) of its highest logit."""
    return [int(id2label[int(index)]) for index in logits.argmax(axis=1)]
