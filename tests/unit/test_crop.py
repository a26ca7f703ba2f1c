"""Block crops, Markdown image paths, Base64 JPEG encoding and page rotation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from layout.crop import DEFAULT_MAX_SIDE, crop, encode_jpeg, image_path_for, rotate_page


def page(height: int = 60, width: int = 80) -> np.ndarray:
    """A BGR page whose pixels encode their own position, so crops can be checked exactly."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([ys % 256, xs % 256, (ys + xs) % 256], axis=-1).astype(np.uint8)


def decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_crop_cuts_the_box_with_truncated_coordinates() -> None:
    image = page()
    out = crop(image, (10.9, 5.2, 30.7, 25.99))
    np.testing.assert_array_equal(out, image[5:25, 10:30])


def test_crop_is_clipped_to_the_image() -> None:
    image = page()
    np.testing.assert_array_equal(crop(image, (-5, -3, 500, 400)), image)
    np.testing.assert_array_equal(crop(image, (70, 50, 90, 70)), image[50:60, 70:80])


def test_crop_is_a_copy_that_does_not_alias_the_page() -> None:
    image = page()
    out = crop(image, (0, 0, 10, 10))
    out[:] = 255
    assert image[0, 0].tolist() == [0, 0, 0]


def test_crop_works_on_grayscale() -> None:
    gray = np.arange(100, dtype=np.uint8).reshape(10, 10)
    np.testing.assert_array_equal(crop(gray, (2, 3, 5, 7)), gray[3:7, 2:5])


@pytest.mark.parametrize("bbox", [(10, 10, 10, 20), (10, 20, 30, 20), (30, 10, 20, 20), (100, 100, 120, 120)])
def test_crop_of_an_empty_box_raises(bbox: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError, match="empty"):
        crop(page(), bbox)


def test_crop_needs_four_coordinates() -> None:
    with pytest.raises(ValueError, match="4 coordinates"):
        crop(page(), (1, 2, 3))


def test_image_path_uses_the_label_and_int_box() -> None:
    assert image_path_for("image", (12.7, 30, 400.2, 512.9)) == "imgs/img_in_image_box_12_30_400_512.jpg"
    assert image_path_for("chart", [1, 2, 3, 4]) == "imgs/img_in_chart_box_1_2_3_4.jpg"


def test_jpeg_round_trips_at_original_size_when_within_the_cap() -> None:
    image = np.full((40, 70, 3), (10, 120, 230), np.uint8)
    decoded = decode(encode_jpeg(image))
    assert decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - image.astype(int)).max() <= 3


@pytest.mark.parametrize(
    ("shape", "max_side", "expected"),
    [((100, 400, 3), 200, (50, 200, 3)), ((400, 100, 3), 200, (200, 50, 3)), ((3000, 1, 3), 100, (100, 1, 3))],
)
def test_jpeg_is_downscaled_to_fit_the_square_keeping_aspect(
    shape: tuple[int, int, int], max_side: int, expected: tuple[int, int, int]
) -> None:
    assert decode(encode_jpeg(np.zeros(shape, np.uint8), max_side=max_side)).shape == expected


def test_jpeg_default_cap_is_2000() -> None:
    assert DEFAULT_MAX_SIDE == 2000
    assert decode(encode_jpeg(np.zeros((2500, 1000, 3), np.uint8))).shape == (2000, 800, 3)


def test_jpeg_lower_quality_is_smaller() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert len(encode_jpeg(noise, quality=30)) < len(encode_jpeg(noise, quality=95))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_side": 0}, "max_side"), ({"quality": 101}, "quality"), ({"quality": -1}, "quality")],
)
def test_jpeg_rejects_bad_arguments(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_jpeg(np.zeros((4, 4, 3), np.uint8), **kwargs)


def test_jpeg_rejects_non_uint8_and_empty_images() -> None:
    with pytest.raises(ValueError, match="uint8"):
        encode_jpeg(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="empty"):
        encode_jpeg(np.zeros((0, 4, 3), np.uint8))


def test_rotate_page_turns_content_counter_clockwise() -> None:
    image = np.array([[1, 2], [3, 4]], np.uint8)
    np.testing.assert_array_equal(rotate_page(image, 90), [[2, 4], [1, 3]])
    np.testing.assert_array_equal(rotate_page(image, 180), [[4, 3], [2, 1]])
    np.testing.assert_array_equal(rotate_page(image, 270), [[3, 1], [4, 2]])
    np.testing.assert_array_equal(rotate_page(image, -90), rotate_page(image, 270))


@pytest.mark.parametrize("angle", [0, 90, 180, 270, -90, 450])
def test_rotating_by_minus_angle_restores_the_page(angle: int) -> None:
    image = page(30, 50)
    rotated = rotate_page(image, angle)
    assert rotated.shape == (image.shape if angle % 180 == 0 else (50, 30, 3))
    np.testing.assert_array_equal(rotate_page(rotated, -angle), image)


def test_rotate_page_returns_a_new_array_even_at_zero() -> None:
    image = page()
    assert not np.shares_memory(rotate_page(image, 0), image)


def test_rotate_page_rejects_non_right_angles() -> None:
    with pytest.raises(ValueError, match="multiple of 90"):
        rotate_page(page(), 45)


def test_a_crop_with_an_outline_is_white_outside_it():
    page = np.zeros((100, 100, 3), np.uint8)
    triangle = ((10, 10), (90, 10), (10, 90))
    region = crop(page, (10, 10, 90, 90), triangle)
    assert (region[5, 5] == 0).all() and (region[75, 75] == 255).all()
    assert (page == 0).all()
