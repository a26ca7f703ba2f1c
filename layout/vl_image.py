"""Preparing block crops for PaddleOCR-VL (spec §5.5, §5.6): smart resize into a pixel budget, formula crop
tightening and spotting upscaling.

Inputs are NumPy arrays in OpenCV layout (H×W BGR or H×W gray, uint8), like every page image in this package.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from layout.vl_prompts import PixelBudget

# The vision encoder cuts 14×14 patches and merges 2×2 of them into one token, so sides are multiples of 28.
PATCH_FACTOR = 28
# The model's image processor refuses anything more elongated than this (spec §5.6).
MAX_ASPECT_RATIO = 200
# Formula crops (spec §5.5): pixels at or below this level, on a min-max stretched gray scale, count as ink.
INK_THRESHOLD = 200
# A tightened formula crop is used only if both its sides exceed this; a thinner one is a stray dot or rule.
MIN_TIGHT_SIDE = 2
# Spotting (spec §5.5): small pages are enlarged before reading so that small print spans enough patches.
SPOTTING_UPSCALE_BELOW = 1500
SPOTTING_UPSCALE = 2

# A bicubic resize: an H×W×3 RGB uint8 image and the (height, width) it becomes -> the resized image. Libraries'
# antialiased bicubics agree to the level almost everywhere; the recognition backend picks one.
Resample = Callable[[np.ndarray, tuple[int, int]], np.ndarray]


def smart_resize(
    height: int,
    width: int,
    *,
    min_pixels: int,
    max_pixels: int,
    factor: int = PATCH_FACTOR,
    max_aspect_ratio: float = MAX_ASPECT_RATIO,
) -> tuple[int, int]:
    """The (height, width) the model's image processor resizes an image to (spec §5.6).

    Sides shorter than `factor` are first scaled up to it keeping the aspect ratio; an aspect ratio above
    `max_aspect_ratio` is a ValueError; each side is rounded to a multiple of `factor`; an area above `max_pixels`
    is scaled down by √(area/max) and floored to multiples, one below `min_pixels` scaled up by √(min/area) and
    ceiled. Python's `round` (half to even) is used on purpose: vLLM runs this same arithmetic on what we send, and
    only identical rounding makes our resized image a fixed point for it, so the server does not resample again.

    Deviation, for a case upstream turns into a zero-sized image (and vLLM into a 500): when flooring a thin sliver
    leaves a side at 0, that side becomes `factor` and the long side the largest multiple of `factor` that keeps
    the area within `max_pixels`. The result is still a fixed point of the server's resize.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image sides must be positive, got {height}x{width}")
    if height < factor:
        width, height = round(width * factor / height), factor
    if width < factor:
        height, width = round(height * factor / width), factor
    aspect = max(height, width) / min(height, width)
    if aspect > max_aspect_ratio:
        raise ValueError(f"aspect ratio {aspect:.1f} exceeds {max_aspect_ratio} ({height}x{width} after upscaling)")
    new_height = round(height / factor) * factor
    new_width = round(width / factor) * factor
    if new_height * new_width > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        new_height = math.floor(height / beta / factor) * factor
        new_width = math.floor(width / beta / factor) * factor
        if min(new_height, new_width) == 0:
            new_height, new_width = _fit_sliver(new_height, new_width, max_pixels, factor)
    elif new_height * new_width < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        new_height = math.ceil(height * beta / factor) * factor
        new_width = math.ceil(width * beta / factor) * factor
    return new_height, new_width


def _fit_sliver(height: int, width: int, max_pixels: int, factor: int) -> tuple[int, int]:
    """One patch row (or column) and as long as the budget allows, but no longer than the proportional size."""
    longest = max_pixels // (factor * factor) * factor
    if longest == 0:
        raise ValueError(f"max_pixels {max_pixels} is below one {factor}x{factor} patch")
    if height == 0:
        return factor, min(width, longest)
    return min(height, longest), factor


def pillow_bicubic(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pillow's antialiased bicubic: what PaddleX's own PaddleOCR-VL processor resizes with."""
    height, width = size
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BICUBIC))


def resize_for_vlm(image_bgr: np.ndarray, budget: PixelBudget, resample: Resample = pillow_bicubic) -> np.ndarray:
    """The crop as the H×W×3 RGB array to send, resized with `resample` to its smart size within `budget`.

    Resizing here rather than leaving it to the server makes the upload no bigger than what the model sees and
    keeps the JPEG artefacts at the final scale; the server's own resize is then a no-op (see `smart_resize`).
    """
    if image_bgr.ndim == 2:
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2RGB)
    elif image_bgr.ndim == 3 and image_bgr.shape[2] == 3:
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    else:
        raise ValueError(f"expected an H×W gray or H×W×3 BGR image, got shape {image_bgr.shape}")
    size = smart_resize(*rgb.shape[:2], min_pixels=budget.min_pixels, max_pixels=budget.max_pixels)
    return rgb if size == rgb.shape[:2] else resample(rgb, size)


def tighten_formula_crop(crop_bgr: np.ndarray) -> np.ndarray:
    """The formula crop cut down to the bounding box of its ink (spec §5.5), so the formula fills the budget.

    Gray levels are stretched to 0–255 first, so faint or tinted scans are judged like clean ones. A blank crop,
    or a tightened box 2 px or thinner on a side, returns the crop unchanged.
    """
    gray = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY) if crop_bgr.ndim == 3 else crop_bgr
    low, high = int(gray.min()), int(gray.max())
    if low == high:
        return crop_bgr
    stretched = ((gray.astype(np.float64) - low) / (high - low) * 255).astype(np.uint8)
    ys, xs = np.nonzero(stretched <= INK_THRESHOLD)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    if bottom - top <= MIN_TIGHT_SIDE or right - left <= MIN_TIGHT_SIDE:
        return crop_bgr
    return crop_bgr[top:bottom, left:right].copy()


def upscale_for_spotting(image: np.ndarray) -> np.ndarray:
    """The page doubled with Lanczos when both sides are under 1500 px (spec §5.5), else the image itself."""
    height, width = image.shape[:2]
    if height >= SPOTTING_UPSCALE_BELOW or width >= SPOTTING_UPSCALE_BELOW:
        return image
    size = (width * SPOTTING_UPSCALE, height * SPOTTING_UPSCALE)
    return cv2.resize(image, size, interpolation=cv2.INTER_LANCZOS4)
