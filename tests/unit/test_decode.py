"""Tests for layout.decode: request bytes to lazily decoded BGR pages, and the wire dataInfo."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import threading
import time
import zlib
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from layout.decode import (
    DecodeLimits,
    InputError,
    data_info,
    decode_base64,
    open_document,
    sniff_file_type,
)
from serve.config import InputConfig

SHARED = Path(__file__).parents[2].parent / "shared"
RED = (255, 0, 0)
BGR_RED = [0, 0, 255]
LIMITS = InputConfig(max_pages=None).decode_limits()


# --------------------------------------------------------------------------------------------------
# Builders


def encode_image(image: Image.Image, fmt: str, **save_args: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save_args)
    return buffer.getvalue()


def solid(color: tuple[int, ...] = RED, size: tuple[int, int] = (40, 30), mode: str = "RGB") -> Image.Image:
    return Image.new(mode, size, color)


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny 1x1 PNG whose IHDR is patched to claim ``width`` x ``height`` (CRC fixed up)."""
    data = bytearray(encode_image(solid(size=(1, 1)), "PNG"))
    # Signature (8) + chunk length (4) + b"IHDR" (4), then width and height as big-endian uint32.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def make_pdf(*sizes: tuple[float, float], rotate: int = 0) -> bytes:
    pdf = pdfium.PdfDocument.new()
    for width, height in sizes:
        page = pdf.new_page(width, height)
        if rotate:
            page.set_rotation(rotate)
    buffer = io.BytesIO()
    pdf.save(buffer)
    return buffer.getvalue()


def make_pdf_with_red_picture() -> bytes:
    pdf = pdfium.PdfDocument.new()
    page = pdf.new_page(100, 100)
    picture = pdfium.PdfImage.new(pdf)
    picture.load_jpeg(io.BytesIO(encode_image(solid(size=(20, 20)), "JPEG")), pages=[page])
    picture.set_matrix(pdfium.PdfMatrix().scale(100, 100))
    page.insert_obj(picture)
    page.gen_content()
    buffer = io.BytesIO()
    pdf.save(buffer)
    return buffer.getvalue()


_PDF_PASSWORD_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def make_encrypted_pdf(user_password: bytes = b"user") -> bytes:
    """A one-page PDF protected by a user password (standard security handler, revision 2)."""
    file_id, permissions = b"0123456789abcdef", -4

    def padded(password: bytes) -> bytes:
        return (password + _PDF_PASSWORD_PAD)[:32]

    owner_entry = _rc4(hashlib.md5(padded(b"owner")).digest()[:5], padded(user_password))
    key_material = padded(user_password) + owner_entry + struct.pack("<i", permissions) + file_id
    user_entry = _rc4(hashlib.md5(key_material).digest()[:5], _PDF_PASSWORD_PAD)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>"
        % (owner_entry.hex().encode(), user_entry.hex().encode(), permissions),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 4 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        file_id.hex().encode(),
        file_id.hex().encode(),
        xref_at,
    )
    return bytes(out)


def make_tiff(*frames: Image.Image) -> bytes:
    return encode_image(frames[0], "TIFF", save_all=True, append_images=list(frames[1:]))


def with_exif_orientation(image: Image.Image, fmt: str, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode_image(image, fmt, exif=exif.tobytes())


def asymmetric_image() -> Image.Image:
    """A 40x30 image whose quadrants differ, so any rotation or flip is visible."""
    pixels = np.zeros((30, 40, 3), np.uint8)
    pixels[:15, :20] = (255, 0, 0)
    pixels[:15, 20:] = (0, 255, 0)
    pixels[15:, :20] = (0, 0, 255)
    pixels[15:, 20:] = (255, 255, 0)
    return Image.fromarray(pixels)


def open_bytes(data: bytes, file_type: int | None = None, limits: DecodeLimits = LIMITS, **kwargs):
    return open_document(data, file_type, limits, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Base64


def test_decode_base64_accepts_standard_alphabet_with_line_breaks() -> None:
    payload = bytes(range(256))
    text = base64.encodebytes(payload).decode()  # wrapped at 76 columns
    assert "\n" in text
    assert decode_base64(text) == payload


def test_decode_base64_accepts_urlsafe_alphabet_without_padding() -> None:
    payload = b"\xfb\xff\xfe" * 10 + b"x"
    text = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    assert "-" in text or "_" in text
    assert decode_base64(text) == payload


def test_decode_base64_strips_data_uri_prefix() -> None:
    payload = encode_image(solid(), "PNG")
    text = "data:image/png;base64," + base64.b64encode(payload).decode()
    assert decode_base64(text) == payload


def test_decode_base64_rejects_data_uri_that_is_not_base64() -> None:
    with pytest.raises(InputError, match="^Invalid input file: data URI"):
        decode_base64("data:text/plain,hello")


@pytest.mark.parametrize("text", ["abc$defg", "ab=cd", "a", "héllo=="])
def test_decode_base64_rejects_malformed_input(text: str) -> None:
    with pytest.raises(InputError, match="^Invalid input file"):
        decode_base64(text)


# --------------------------------------------------------------------------------------------------
# File type


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "WEBP", "TIFF", "GIF"])
def test_sniff_recognises_image_formats(fmt: str) -> None:
    assert sniff_file_type(encode_image(solid(), fmt)) == "image"


def test_sniff_recognises_pdf_even_after_leading_junk() -> None:
    assert sniff_file_type(make_pdf((100, 100))) == "pdf"
    assert sniff_file_type(b"\r\n\x00junk" + make_pdf((100, 100))) == "pdf"


def test_sniff_returns_none_for_unknown_bytes() -> None:
    assert sniff_file_type(b"hello world, not a document") is None
    assert sniff_file_type(b"") is None


def test_open_without_file_type_sniffs_magic_bytes() -> None:
    assert open_bytes(make_pdf((100, 100))).kind == "pdf"
    assert open_bytes(encode_image(solid(), "PNG")).kind == "image"


def test_open_without_file_type_or_recognisable_bytes_cannot_determine_type() -> None:
    with pytest.raises(InputError, match="^File type cannot be determined$"):
        open_bytes(b"just some text")


def test_open_falls_back_to_name_hint_and_reports_unsupported_extensions() -> None:
    with pytest.raises(InputError, match="^Invalid input file"):
        open_bytes(b"not really a pdf", name_hint="report.pdf")
    with pytest.raises(InputError, match="^Unsupported file type$"):
        open_bytes(b"PK\x03\x04zip", name_hint="report.docx")


def test_open_rejects_pdf_declared_as_image_and_image_declared_as_pdf() -> None:
    with pytest.raises(InputError, match="^Invalid input file: fileType is 1 .* the file is a PDF"):
        open_bytes(make_pdf((100, 100)), 1)
    with pytest.raises(InputError, match="^Invalid input file: fileType is 0 .* the file is an image"):
        open_bytes(encode_image(solid(), "PNG"), 0)


@pytest.mark.parametrize("file_type", [0, 1])
def test_open_rejects_random_bytes_with_explicit_file_type(file_type: int) -> None:
    noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(InputError, match="^Invalid input file"):
        open_bytes(noise, file_type)


@pytest.mark.parametrize("file_type", [None, 0, 1])
def test_open_rejects_empty_file(file_type: int | None) -> None:
    with pytest.raises(InputError, match="^Invalid input file: the file is empty"):
        open_bytes(b"", file_type)


def test_open_rejects_file_over_byte_limit() -> None:
    data = encode_image(solid(), "PNG")
    with pytest.raises(InputError, match=f"^File exceeds {len(data) - 1} bytes$"):
        open_bytes(data, 1, replace(LIMITS, max_file_bytes=len(data) - 1))


# --------------------------------------------------------------------------------------------------
# Images


@pytest.mark.parametrize(
    ("fmt", "tolerance"), [("PNG", 0), ("BMP", 0), ("WEBP", 0), ("TIFF", 0), ("GIF", 0), ("JPEG", 3)]
)
def test_image_formats_decode_to_bgr_uint8(fmt: str, tolerance: int) -> None:
    save_args = {"lossless": True} if fmt == "WEBP" else {}
    with open_bytes(encode_image(solid(), fmt, **save_args), 1) as document:
        page = document.page(0)
        assert (document.kind, document.num_pages, document.total_pages) == ("image", 1, 1)
        assert page.dtype == np.uint8 and page.shape == (30, 40, 3)
        assert np.abs(page.astype(int) - BGR_RED).max() <= tolerance
        assert data_info(document) == {"width": 40, "height": 30, "type": "image"}


def test_rgba_image_is_composited_on_white() -> None:
    image = Image.new("RGBA", (4, 1), (255, 0, 0, 0))
    image.putpixel((1, 0), (255, 0, 0, 255))
    image.putpixel((2, 0), (255, 0, 0, 128))
    page = open_bytes(encode_image(image, "PNG")).page(0)
    assert page[0, 0].tolist() == [255, 255, 255]  # fully transparent -> white, not black
    assert page[0, 1].tolist() == BGR_RED
    assert page[0, 2, 2] == 255 and 120 <= page[0, 2, 0] <= 135  # half red over white


def test_palette_image_with_transparent_index_is_composited_on_white() -> None:
    image = Image.new("P", (2, 1), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((1, 0), 1)
    page = open_bytes(encode_image(image, "PNG", transparency=0)).page(0)
    assert page.tolist() == [[[255, 255, 255], BGR_RED]]


def test_grayscale_image_becomes_three_equal_channels() -> None:
    page = open_bytes(encode_image(solid(77, mode="L"), "PNG")).page(0)
    assert page.shape == (30, 40, 3) and (page == 77).all()


def test_one_bit_image_becomes_black_and_white_bgr() -> None:
    image = Image.new("1", (8, 2), 0)
    image.putpixel((0, 0), 1)
    page = open_bytes(encode_image(image, "PNG")).page(0)
    assert page[0, 0].tolist() == [255, 255, 255] and page[1, 1].tolist() == [0, 0, 0]


def test_sixteen_bit_grayscale_is_scaled_to_eight_bits() -> None:
    image = Image.fromarray(np.full((3, 5), 0xABCD, np.uint16))
    page = open_bytes(encode_image(image, "PNG")).page(0)
    assert page.shape == (3, 5, 3) and (page == 0xAB).all()


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_exif_orientation_is_applied_like_cv2_imdecode(fmt: str, orientation: int) -> None:
    data = with_exif_orientation(asymmetric_image(), fmt, orientation)
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    document = open_bytes(data)
    assert np.array_equal(document.page(0), expected)
    assert data_info(document) == {"width": expected.shape[1], "height": expected.shape[0], "type": "image"}


def test_truncated_png_is_invalid_input() -> None:
    data = encode_image(Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8)), "PNG")
    with pytest.raises(InputError, match="^Invalid input file"):
        open_bytes(data[: len(data) // 2])


def test_pixel_bomb_header_is_rejected_before_decoding() -> None:
    data = png_claiming_size(100_000, 100_000)
    assert len(data) < 100
    started = time.perf_counter()
    with pytest.raises(InputError, match=r"^Image pixel count 10000000000 exceeds maximum allowed 178956970\.$"):
        open_bytes(data)
    assert time.perf_counter() - started < 0.5


def test_pixel_bomb_message_names_the_configured_limit_when_it_is_stricter() -> None:
    with pytest.raises(InputError, match=r"^Image pixel count 10000000000 exceeds maximum allowed 10000\.$"):
        open_bytes(png_claiming_size(100_000, 100_000), 1, replace(LIMITS, max_pixels=10_000))


def test_pixel_limit_is_checked_on_the_header_not_the_pixels() -> None:
    # The file holds one pixel; decoding would fail as truncated, so a pixel-count error proves
    # the header was checked first.
    with pytest.raises(InputError, match=r"^Image pixel count 1000000 exceeds maximum allowed 10000\.$"):
        open_bytes(png_claiming_size(1000, 1000), 1, replace(LIMITS, max_pixels=10_000))


def test_image_exactly_at_pixel_limit_is_accepted() -> None:
    document = open_bytes(encode_image(solid(), "PNG"), 1, replace(LIMITS, max_pixels=40 * 30))
    assert document.page(0).shape == (30, 40, 3)


# --------------------------------------------------------------------------------------------------
# Multi-frame TIFF


def three_frame_tiff() -> bytes:
    return make_tiff(solid(RED, (40, 30)), solid((0, 255, 0), (20, 10)), solid((0, 0, 255), (30, 50)))


def test_multi_frame_tiff_is_a_document_of_pages() -> None:
    with open_bytes(three_frame_tiff(), 1) as document:
        assert (document.kind, document.num_pages, document.total_pages) == ("tiff", 3, 3)
        pages = list(document.pages())
    assert [p.shape for p in pages] == [(30, 40, 3), (10, 20, 3), (50, 30, 3)]
    assert [p[0, 0].tolist() for p in pages] == [BGR_RED, [0, 255, 0], [255, 0, 0]]
    assert data_info(document) == {
        "numPages": 3,
        "pages": [{"width": 40, "height": 30}, {"width": 20, "height": 10}, {"width": 30, "height": 50}],
        "type": "tiff",
    }


def test_multi_frame_tiff_orientation_matches_cv2_and_data_info() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    frames = [asymmetric_image(), asymmetric_image()]
    data = encode_image(frames[0], "TIFF", save_all=True, append_images=frames[1:], exif=exif.tobytes())
    ok, expected = cv2.imdecodemulti(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    document = open_bytes(data, 1)
    pages = list(document.pages())
    assert ok and all(np.array_equal(e, p) for e, p in zip(expected, pages, strict=True))
    assert data_info(document)["pages"] == [{"width": 30, "height": 40}] * 2


def test_single_frame_tiff_is_an_image() -> None:
    assert open_bytes(make_tiff(solid())).kind == "image"


def test_tiff_page_limit_rejects_or_truncates() -> None:
    with pytest.raises(InputError, match="3 pages, more than the limit of 2"):
        open_bytes(three_frame_tiff(), 1, replace(LIMITS, max_pages=2))
    document = open_bytes(three_frame_tiff(), 1, replace(LIMITS, max_pages=2, on_too_many_pages="truncate"))
    assert (document.num_pages, document.total_pages) == (2, 3)
    assert len(list(document.pages())) == 2
    assert data_info(document)["numPages"] == 2


def test_tiff_frame_over_pixel_limit_names_the_page() -> None:
    data = make_tiff(solid(size=(10, 10)), solid(size=(10, 10)), solid(size=(100, 100)))
    with pytest.raises(InputError, match=r"^Page 3: Image pixel count 10000 exceeds maximum allowed 1000\.$"):
        open_bytes(data, 1, replace(LIMITS, max_pixels=1000))


# --------------------------------------------------------------------------------------------------
# PDF


def test_pdf_reports_page_count_and_renders_white_pages_at_scale_two() -> None:
    with open_bytes(make_pdf((100, 50), (200, 300), (612, 792)), 0) as document:
        assert (document.kind, document.num_pages, document.total_pages) == ("pdf", 3, 3)
        page = document.page(1)
    assert page.shape == (600, 400, 3) and page.dtype == np.uint8 and (page == 255).all()


def test_pdf_pages_are_rendered_in_bgr() -> None:
    page = open_bytes(make_pdf_with_red_picture(), 0).page(0)
    assert np.abs(page[100, 100].astype(int) - BGR_RED).max() <= 3


@pytest.mark.parametrize("rotate", [0, 90])
def test_pdf_data_info_equals_rendered_size(rotate: int) -> None:
    document = open_bytes(make_pdf((100.3, 200.7), (595.28, 841.89), (33.33, 77.77), rotate=rotate), 0)
    info = data_info(document)
    rendered = [{"width": p.shape[1], "height": p.shape[0]} for p in document.pages()]
    assert info == {"numPages": 3, "pages": rendered, "type": "pdf"}
    if rotate == 90:  # the page's /Rotate is applied, so width and height swap
        assert rendered[1] == {"width": 1684, "height": 1191}


def test_pdf_pages_render_lazily_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = pdfium.PdfPage.render

    def counting_render(self: pdfium.PdfPage, *args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pdfium.PdfPage, "render", counting_render)
    document = open_bytes(make_pdf(*[(200, 200)] * 300), 0)
    data_info(document)
    assert calls == []
    pages = document.pages()
    next(pages)
    next(pages)
    assert len(calls) == 2


def test_huge_pdf_page_is_rendered_at_a_reduced_scale() -> None:
    limits = replace(LIMITS, max_pixels=100_000)
    document = open_bytes(make_pdf((500, 500)), 0, limits)
    page = document.page(0)
    assert page.shape[0] * page.shape[1] <= 100_000
    assert page.shape[0] * page.shape[1] > 99_000  # the largest scale that fits, not a crude guess
    assert data_info(document)["pages"] == [{"width": page.shape[1], "height": page.shape[0]}]


def test_pdf_page_size_at_default_limit_is_planned_without_rendering() -> None:
    info = data_info(open_bytes(make_pdf((14_400, 14_400)), 0))  # the PDF format's maximum page size
    size = info["pages"][0]  # type: ignore[index]
    assert size == {"width": 13377, "height": 13377}
    assert 13377**2 <= LIMITS.max_pixels < 13378**2  # the largest square bitmap under the limit


def test_pdf_page_too_large_even_at_minimum_scale_names_the_page() -> None:
    data = make_pdf((100, 100), (200_000, 200_000))
    with pytest.raises(InputError, match=r"^Page 2: Image pixel count 400000000 exceeds maximum allowed 178956970"):
        open_bytes(data, 0)


def test_pdf_page_limit_rejects_with_count_and_limit() -> None:
    with pytest.raises(InputError, match="^Invalid input file: the document has 3 pages, more than the limit of 2$"):
        open_bytes(make_pdf(*[(100, 100)] * 3), 0, replace(LIMITS, max_pages=2))


def test_pdf_page_limit_truncate_keeps_the_first_pages() -> None:
    limits = replace(LIMITS, max_pages=2, on_too_many_pages="truncate")
    document = open_bytes(make_pdf((100, 100), (200, 200), (300, 300)), 0, limits)
    assert (document.num_pages, document.total_pages) == (2, 3)
    assert [p.shape for p in document.pages()] == [(200, 200, 3), (400, 400, 3)]
    assert data_info(document)["numPages"] == 2
    with pytest.raises(IndexError):
        document.page(2)


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.4\nthis is not a pdf body", b"%PDF-", make_pdf(), make_pdf((100, 100))[:60]],
    ids=["garbage", "header-only", "no-pages", "truncated"],
)
def test_damaged_or_empty_pdf_is_invalid_input(data: bytes) -> None:
    with pytest.raises(InputError, match="^Invalid input file"):
        open_bytes(data, 0)


def test_password_protected_pdf_is_invalid_input() -> None:
    data = make_encrypted_pdf()
    assert len(pdfium.PdfDocument(data, password="user")) == 1  # the fixture really is a valid PDF
    with pytest.raises(InputError, match="^Invalid input file: the PDF is password-protected$"):
        open_bytes(data)


def test_pdf_pages_render_correctly_from_concurrent_threads() -> None:
    documents = [open_bytes(make_pdf((100 + i, 80), (60, 90 + i)), 0) for i in range(4)]
    expected = [[p.shape for p in d.pages()] * 5 for d in documents]
    results: dict[int, list[tuple[int, ...]]] = {}

    def render_repeatedly(index: int) -> None:
        results[index] = [documents[index].page(p).shape for _ in range(5) for p in range(2)]

    threads = [threading.Thread(target=render_repeatedly, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert [results.get(i) for i in range(4)] == expected
    for document in documents:
        document.close()


def test_closed_pdf_refuses_to_render() -> None:
    document = open_bytes(make_pdf((100, 100)), 0)
    document.close()
    document.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        document.page(0)


# --------------------------------------------------------------------------------------------------
# Limits


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_pixels": 0},
        {"max_pages": 0},
        {"on_too_many_pages": "drop"},
        {"pdf_min_render_scale": 0},
        {"pdf_min_render_scale": 3.0},
        {"max_file_bytes": 0},
    ],
)
def test_decode_limits_reject_nonsensical_configuration(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        replace(LIMITS, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Shared evaluation documents


@pytest.mark.parametrize("name", sorted(p.name for p in (SHARED / "eval/docling_pdf/sources").glob("*.pdf")))
def test_eval_pdfs_open_and_plan_their_pages(name: str) -> None:
    with open_bytes((SHARED / "eval/docling_pdf/sources" / name).read_bytes(), None, name_hint=name) as document:
        info = data_info(document)
        assert document.kind == "pdf" and info["numPages"] == document.total_pages >= 1
        first = document.page(0)
    assert info["pages"][0] == {"width": first.shape[1], "height": first.shape[0]}  # type: ignore[index]


def test_eval_tiff_scan_opens() -> None:
    path = SHARED / "eval/ocrd_kant_1784/INPUT_0017.tif"
    if not path.exists():
        pytest.skip("shared evaluation data not present")
    with open_bytes(path.read_bytes(), 1) as document:
        page = document.page(0)
        assert page.dtype == np.uint8 and page.ndim == 3 and page.shape[2] == 3
        assert data_info(document)["width"] == page.shape[1]
