"""Turn request bytes into page images (BGR ``uint8`` arrays of shape ``(h, w, 3)``), one page at a time.

Entry points: :func:`decode_base64` (the request's ``file`` field), :func:`open_document` (bytes to a
lazy :class:`Document`) and :func:`data_info` (the wire ``dataInfo``). Every problem with the input
raises :class:`InputError`, whose message is the user-facing 422 ``errorMsg``.

Pages are produced on demand: a 300-page PDF is rendered one page per :meth:`Document.page` call, so
only the pages a caller is holding are in memory. Size checks happen when the document is opened
(header dimensions for images, page boxes for PDFs), so an oversized page is reported before any
page is processed and ``dataInfo`` is known without rendering anything.

Behaviour, and where it deliberately differs from upstream PaddleX (§4 of the API spec):

* **Base64**: strict standard alphabet, whitespace ignored, missing ``=`` padding tolerated.
  Extensions: ``data:<mime>;base64,`` URIs and the URL-safe alphabet (``-``/``_``) are accepted.
  Upstream decodes non-strictly (silently dropping stray characters) and accepts neither extension;
  we reject stray characters, because silently decoding garbage yields a confusing later error.
* **File type**: an explicit ``fileType`` names the family (0 = PDF, 1 = image, multi-frame TIFF
  included). Without it we sniff magic bytes, then fall back to the file-name extension
  (``mimetypes``); upstream only uses the URL extension and answers "File type cannot be
  determined" for every Base64 input without ``fileType``.
* **fileType mismatch**: when the magic bytes positively identify the *other* family (a PDF sent as
  ``fileType: 1`` or a PNG sent as ``fileType: 0``) we answer 422 with a message that says so, like
  upstream's status but clearer than its generic "Invalid input file". We do not silently switch
  decoders: the client's declaration decides page limits and result shape, so a surprise switch
  would be harder to debug than a precise error.
* **Image formats**: PNG, JPEG, BMP, WEBP, TIFF and GIF only (PIL is restricted to these decoders to
  keep its rarely used parsers out of reach of untrusted input). GIF, APNG and animated WEBP give
  their first frame; a TIFF with more than one frame is a multi-page document (``type: "tiff"``),
  a single-frame TIFF is an ordinary image (``type: "image"``).
* **Pixels**: decoded with Pillow rather than OpenCV so the header can be checked before any pixel
  is decoded. Transparent images are composited on **white** (upstream's ``imdecode`` drops alpha,
  which turns transparent backgrounds black or into noise); grayscale, palette, CMYK and 1-bit
  images become 3-channel BGR; 16-bit samples are scaled to 8 bits (``>> 8``, as OpenCV does);
  float samples are taken as 0..1. EXIF orientation is applied, matching ``cv2.imdecode`` with
  ``IMREAD_COLOR`` (checked: OpenCV rotates JPEG, PNG, WEBP and TIFF by their orientation tag).
* **Pixel limit**: ``max_pixels`` (default 178,956,970, upstream's value) is checked on the header
  dimensions of every image or TIFF frame. A PDF page is rendered at ``pdf_render_scale``; when that
  would exceed the limit we compute the largest scale that fits (no trial renders) and refuse the
  page only if that scale is below ``pdf_min_render_scale``. Pillow's own bomb guard stays in place
  as a second line (it raises above 2 x ``Image.MAX_IMAGE_PIXELS``, the same 178,956,970 by
  default, so raising ``max_pixels`` beyond that also needs ``Image.MAX_IMAGE_PIXELS`` raised);
  we report it as the same 422 and silence its lower-threshold *warning*, which is redundant
  with our check. We never change Pillow's global limits.
* **Page limit**: ``max_pages`` applies to PDFs and multi-frame TIFFs. Upstream silently truncates;
  our default ``on_too_many_pages="reject"`` answers 422 naming the page count and the limit, and
  ``"truncate"`` reproduces upstream (``num_pages`` = ``max_pages``, ``total_pages`` = the real count).
* **PDFs**: pypdfium2 is not thread-safe, so every call into it holds :data:`_PDFIUM_LOCK`, for one
  page at a time, letting pages of concurrent requests interleave. Forms are initialised and drawn,
  the page's own ``/Rotate`` is honoured (pdfium's default) and no other rotation is applied.
  Encrypted PDFs are refused (the API has no password field); PDFs with no pages are refused.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import math
import mimetypes
import re
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import cv2
import numpy as np
import pypdfium2 as pdfium
from PIL import Image

from layout.pdf_text import page_glyphs
from layout.text_layer import TextLayer, text_layer

FileFamily = Literal["pdf", "image"]
DocumentKind = Literal["image", "pdf", "tiff"]
TooManyPagesPolicy = Literal["reject", "truncate"]


FILE_TYPE_PDF = 0
FILE_TYPE_IMAGE = 1

INVALID_INPUT = "Invalid input file"
TYPE_UNDETERMINED = "File type cannot be determined"
TYPE_UNSUPPORTED = "Unsupported file type"
_FAMILY_NAMES: dict[FileFamily, str] = {"pdf": "a PDF", "image": "an image"}

# Real-world PDFs sometimes carry junk before the header; readers (pdfium included) look this far.
_PDF_HEADER_WINDOW = 1024
_PDF_MAGIC = b"%PDF-"
# Pillow format names we let Pillow decode, in the order tried when the magic bytes are unknown.
_PIL_FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "TIFF", "GIF")
_EXIF_ORIENTATION_TAG = 0x0112
_ORIENTATION_TRANSPOSE = {  # EXIF orientation -> the transposition that undoes it
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_TRANSPOSED_ORIENTATIONS = frozenset({5, 6, 7, 8})  # orientations that swap width and height
_WHITE_RGBA = (255, 255, 255, 255)
_HIGH_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_BASE64_WHITESPACE = b" \t\r\n\v\f"
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_DATA_URI = re.compile(r"data:(?P<params>[^,]*),", re.IGNORECASE)
_PIL_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")

# One lock for the whole process: pdfium keeps global state, so even calls on *different* documents
# must not overlap.
_PDFIUM_LOCK = threading.Lock()

# Our own header check enforces the limit; Pillow's warning (at half its hard limit) would only add
# log noise for legitimate large scans.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class InputError(ValueError):
    """A problem with the client's input; ``str(error)`` is the 422 ``errorMsg``."""


@dataclass(frozen=True)
class DecodeLimits:
    """Operator limits applied while decoding; see the module docstring for their semantics. Their values (and
    defaults) come from the service's configuration, `serve.config.InputConfig.decode_limits()`."""

    max_pixels: int
    max_pages: int | None  # None = unlimited (upstream 3.4+ shipped configs)
    on_too_many_pages: TooManyPagesPolicy
    pdf_render_scale: float
    pdf_min_render_scale: float
    max_file_bytes: int | None

    def __post_init__(self) -> None:
        # These are configuration mistakes, not client errors, hence plain ValueError.
        if self.max_pixels < 1:
            raise ValueError("max_pixels must be positive")
        if self.max_pages is not None and self.max_pages < 1:
            raise ValueError("max_pages must be positive or None")
        if self.on_too_many_pages not in ("reject", "truncate"):
            raise ValueError("on_too_many_pages must be 'reject' or 'truncate'")
        if not 0 < self.pdf_min_render_scale <= self.pdf_render_scale:
            raise ValueError("need 0 < pdf_min_render_scale <= pdf_render_scale")
        if self.max_file_bytes is not None and self.max_file_bytes < 1:
            raise ValueError("max_file_bytes must be positive or None")


# --------------------------------------------------------------------------------------------------
# Base64


def decode_base64(text: str) -> bytes:
    """Decode the request's Base64 ``file`` (standard or URL-safe alphabet, optional data-URI prefix)."""
    payload = _strip_data_uri(text.strip())
    try:
        raw = payload.encode("ascii")
    except UnicodeEncodeError:
        raise InputError(f"{INVALID_INPUT}: Base64 contains non-ASCII characters") from None
    raw = raw.translate(None, _BASE64_WHITESPACE).translate(_URLSAFE_TO_STANDARD)
    if b"=" not in raw:
        raw += b"=" * (-len(raw) % 4)  # URL-safe producers often omit padding
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error as exc:
        raise InputError(f"{INVALID_INPUT}: malformed Base64 ({exc})") from None


def _strip_data_uri(text: str) -> str:
    match = _DATA_URI.match(text)
    if match is None:
        return text
    params = match.group("params").lower().split(";")
    if "base64" not in (p.strip() for p in params[1:]):
        raise InputError(f"{INVALID_INPUT}: data URI is not Base64-encoded")
    return text[match.end() :]


# --------------------------------------------------------------------------------------------------
# File type


def _sniff_image_format(data: bytes) -> str | None:
    """The Pillow format name for the magic bytes at the start of ``data``, if it is one we accept."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "WEBP"
    # Classic and BigTIFF headers, little and big endian.
    if data.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "TIFF"
    if data.startswith(b"BM") and len(data) >= 26:  # 14-byte file header + at least a core DIB header
        return "BMP"
    return None


def sniff_file_type(data: bytes) -> FileFamily | None:
    """``"pdf"`` / ``"image"`` from magic bytes, or None when the bytes are not a format we accept."""
    if _PDF_MAGIC in data[:_PDF_HEADER_WINDOW]:
        return "pdf"
    if _sniff_image_format(data) is not None:
        return "image"
    return None


def _guess_mime(name: str) -> str | None:
    mime, _encoding = mimetypes.guess_type(name, strict=False)
    return mime


def _family_from_mime(mime: str | None) -> FileFamily | None:
    if mime == "application/pdf":
        return "pdf"
    if mime is not None and mime.startswith("image/"):
        return "image"
    return None


def _resolve_family(data: bytes, file_type: int | None, name_hint: str | None) -> FileFamily:
    sniffed = sniff_file_type(data)
    if file_type is not None:
        declared = _declared_family(file_type)
        if sniffed is not None and sniffed != declared:
            raise InputError(
                f"{INVALID_INPUT}: fileType is {file_type} ({_FAMILY_NAMES[declared]}) "
                f"but the file is {_FAMILY_NAMES[sniffed]}"
            )
        return declared
    if sniffed is not None:
        return sniffed
    if name_hint:
        mime = _guess_mime(name_hint)
        family = _family_from_mime(mime)
        if family is not None:
            return family
        if mime is not None:
            raise InputError(TYPE_UNSUPPORTED)
    raise InputError(TYPE_UNDETERMINED)


def _declared_family(file_type: int) -> FileFamily:
    if file_type == FILE_TYPE_PDF:
        return "pdf"
    if file_type == FILE_TYPE_IMAGE:
        return "image"
    raise InputError("fileType must be 0 (PDF) or 1 (image)")


# --------------------------------------------------------------------------------------------------
# Documents


class Document(ABC):
    """A decoded input: ``num_pages`` page images, each produced on demand by :meth:`page`.

    ``page(i)`` returns a BGR ``uint8`` array of shape ``(h, w, 3)`` whose size equals
    ``page_size(i)``. It may raise :class:`InputError` for damage found only while decoding that page.
    Close the document (or use it as a context manager) to release the file's resources.
    """

    kind: DocumentKind
    num_pages: int  # pages that will be processed (after the page limit)
    total_pages: int  # pages in the file

    @abstractmethod
    def page_size(self, index: int) -> tuple[int, int]:
        """``(width, height)`` of page ``index`` as :meth:`page` returns it, without decoding it."""

    @abstractmethod
    def page(self, index: int) -> np.ndarray:
        """Decode or render page ``index`` (0-based)."""

    def text_layer(self, index: int) -> TextLayer | None:
        """The text page ``index`` carries, in the pixels of :meth:`page`; None for inputs that have none (images)."""
        return None

    def pages(self) -> Iterator[np.ndarray]:
        """Yield the pages in order, producing each only when the consumer asks for it."""
        for index in range(self.num_pages):
            yield self.page(index)

    def close(self) -> None:
        """Release resources; idempotent."""

    def __enter__(self) -> Document:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.num_pages:
            raise IndexError(f"page index {index} out of range for {self.num_pages} pages")


class ImageDocument(Document):
    """A single image. It is decoded when opened (so damage is a 422 up front) and kept.

    :meth:`page` returns the same array on every call; copy it before modifying it in place.
    """

    kind: DocumentKind = "image"

    def __init__(self, image: np.ndarray) -> None:
        self._image: np.ndarray | None = image
        self._size = (image.shape[1], image.shape[0])
        self.num_pages = 1
        self.total_pages = 1

    def page_size(self, index: int) -> tuple[int, int]:
        self._check_index(index)
        return self._size

    def page(self, index: int) -> np.ndarray:
        self._check_index(index)
        if self._image is None:
            raise ValueError("document is closed")
        return self._image

    def close(self) -> None:
        self._image = None


class TiffDocument(Document):
    """A multi-frame TIFF; each frame is a page, decoded from the file bytes when requested."""

    kind: DocumentKind = "tiff"

    def __init__(self, data: bytes, total_frames: int, sizes: list[tuple[int, int]]) -> None:
        self._data: bytes | None = data
        self._sizes = sizes
        self.num_pages = len(sizes)
        self.total_pages = total_frames

    def page_size(self, index: int) -> tuple[int, int]:
        self._check_index(index)
        return self._sizes[index]

    def page(self, index: int) -> np.ndarray:
        self._check_index(index)
        if self._data is None:
            raise ValueError("document is closed")
        # A fresh Pillow handle per page keeps the document stateless, so pages may be requested
        # from different threads one after another.
        with _open_pil(self._data, ("TIFF",)) as image:
            with _pil_errors_as_input_error(f"Page {index + 1}: "):
                image.seek(index)
            return _decode_frame(image, page_prefix=f"Page {index + 1}: ")

    def close(self) -> None:
        self._data = None


@dataclass(frozen=True)
class _PageRender:
    scale: float
    width: int
    height: int


class PdfDocument(Document):
    """A PDF rendered page by page with pypdfium2, under the process-wide pdfium lock."""

    kind: DocumentKind = "pdf"

    def __init__(self, data: bytes, limits: DecodeLimits) -> None:
        self._pdf: pdfium.PdfDocument | None = _load_pdf(data)
        try:
            self.total_pages = self._count_pages()
            self.num_pages = _apply_page_limit(self.total_pages, limits)
            self._renders = [self._plan_render(i, limits) for i in range(self.num_pages)]
        except BaseException:
            self.close()
            raise

    def _count_pages(self) -> int:
        with _PDFIUM_LOCK:
            assert self._pdf is not None
            count = len(self._pdf)
        if count < 1:
            raise InputError(f"{INVALID_INPUT}: the PDF has no pages")
        return count

    def _plan_render(self, index: int, limits: DecodeLimits) -> _PageRender:
        with _PDFIUM_LOCK:
            assert self._pdf is not None
            try:
                width_pt, height_pt = self._pdf.get_page_size(index)  # already swapped for /Rotate 90/270
            except pdfium.PdfiumError:
                raise InputError(f"Page {index + 1}: {INVALID_INPUT}: the page is damaged") from None
        return _choose_render(width_pt, height_pt, limits, page_number=index + 1)

    def page_size(self, index: int) -> tuple[int, int]:
        self._check_index(index)
        render = self._renders[index]
        return render.width, render.height

    def render_scale(self, index: int) -> float:
        """The scale page ``index`` is rendered at (below ``pdf_render_scale`` for huge pages)."""
        self._check_index(index)
        return self._renders[index].scale

    def text_layer(self, index: int) -> TextLayer:
        render = self._renders[index]
        with self._loaded(index) as page:
            glyphs = page_glyphs(page, render.width, render.height)
        return text_layer(glyphs)

    def page(self, index: int) -> np.ndarray:
        render = self._renders[index]
        with self._loaded(index) as page:
            bitmap = page.render(scale=render.scale, may_draw_forms=True)
            try:
                # Copy out of pdfium's buffer (rows may be padded) before the bitmap is freed.
                return np.array(bitmap.to_numpy(), order="C", copy=True)
            finally:
                bitmap.close()

    @contextmanager
    def _loaded(self, index: int) -> Iterator[pdfium.PdfPage]:
        """Page ``index``, loaded and used under the pdfium lock."""
        self._check_index(index)
        with _PDFIUM_LOCK:
            if self._pdf is None:
                raise ValueError("document is closed")
            try:
                page = self._pdf[index]
            except pdfium.PdfiumError:
                raise InputError(f"Page {index + 1}: {INVALID_INPUT}: the page is damaged") from None
            try:
                yield page
            finally:
                page.close()

    def close(self) -> None:
        with _PDFIUM_LOCK:
            if self._pdf is not None:
                self._pdf.close()
                self._pdf = None


def _load_pdf(data: bytes) -> pdfium.PdfDocument:
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise InputError(_pdf_load_error_message(exc)) from None
        try:
            pdf.init_forms()  # must precede the first page load for form fields to be drawn
        except pdfium.PdfiumError:
            pass  # a form environment that cannot be set up only means form fields are not drawn
        return pdf


def _pdf_load_error_message(exc: pdfium.PdfiumError) -> str:
    if getattr(exc, "err_code", None) == pdfium.raw.FPDF_ERR_PASSWORD:
        return f"{INVALID_INPUT}: the PDF is password-protected"
    if getattr(exc, "err_code", None) == pdfium.raw.FPDF_ERR_SECURITY:
        return f"{INVALID_INPUT}: the PDF uses an unsupported security handler"
    # pdfium reports a page-less document as a load failure with code "Success".
    return f"{INVALID_INPUT}: the PDF is damaged or has no pages"


def _render_pixels(width_pt: float, height_pt: float, scale: float) -> tuple[int, int]:
    # The same rounding pypdfium2's render() uses for the bitmap size.
    return math.ceil(width_pt * scale), math.ceil(height_pt * scale)


def _choose_render(width_pt: float, height_pt: float, limits: DecodeLimits, page_number: int) -> _PageRender:
    """The render scale for a page: the configured one, or the largest that keeps it under the limit."""
    if not (math.isfinite(width_pt) and math.isfinite(height_pt) and width_pt > 0 and height_pt > 0):
        raise InputError(f"{INVALID_INPUT}: page {page_number} has an invalid size")
    scale = limits.pdf_render_scale
    if math.prod(_render_pixels(width_pt, height_pt, scale)) > limits.max_pixels:
        scale = _largest_fitting_scale(width_pt, height_pt, limits.max_pixels)
    if scale < limits.pdf_min_render_scale:
        pixels = math.prod(_render_pixels(width_pt, height_pt, limits.pdf_min_render_scale))
        raise InputError(
            f"Page {page_number}: Image pixel count {pixels} exceeds maximum allowed {limits.max_pixels} "
            f"even at render scale {limits.pdf_min_render_scale:g}."
        )
    width, height = _render_pixels(width_pt, height_pt, scale)
    return _PageRender(scale=scale, width=width, height=height)


# Bisection steps for the fitting scale: 60 halvings pin it down to float precision.
_SCALE_BISECTION_STEPS = 60


def _largest_fitting_scale(width_pt: float, height_pt: float, max_pixels: int) -> float:
    """The largest scale whose bitmap (each side rounded up) has at most ``max_pixels`` pixels."""

    def fits(scale: float) -> bool:
        return math.prod(_render_pixels(width_pt, height_pt, scale)) <= max_pixels

    # sqrt() is exact before rounding; rounding each side up can push it over by a row and a column.
    low, high = 0.0, math.sqrt(max_pixels / (width_pt * height_pt))
    if fits(high):
        return high
    for _ in range(_SCALE_BISECTION_STEPS):
        middle = (low + high) / 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def _apply_page_limit(total_pages: int, limits: DecodeLimits) -> int:
    if limits.max_pages is None or total_pages <= limits.max_pages:
        return total_pages
    if limits.on_too_many_pages == "truncate":
        return limits.max_pages
    raise InputError(
        f"{INVALID_INPUT}: the document has {total_pages} pages, more than the limit of {limits.max_pages}"
    )


# --------------------------------------------------------------------------------------------------
# Images


@contextmanager
def _pil_errors_as_input_error(page_prefix: str = "", max_pixels: int | None = None) -> Iterator[None]:
    """Map whatever Pillow raises on damaged input to an :class:`InputError`."""
    try:
        yield
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(_pil_bomb_message(exc, page_prefix, max_pixels)) from None
    except Exception:  # Pillow reports damage as OSError, SyntaxError, ValueError, struct.error, EOFError...
        raise InputError(f"{page_prefix}{INVALID_INPUT}: the image is damaged or unsupported") from None


def _pil_bomb_message(exc: Image.DecompressionBombError, prefix: str, max_pixels: int) -> str:
    # Pillow refuses above 2 x MAX_IMAGE_PIXELS; report the stricter of that and our own limit.
    limit = min(limit for limit in (max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or 0)) if limit)
    match = _PIL_BOMB_PIXELS.search(str(exc))
    count = f" {match.group(1)}" if match else ""
    return f"{prefix}Image pixel count{count} exceeds maximum allowed {limit}."


def _open_pil(data: bytes, formats: tuple[str, ...], max_pixels: int | None = None) -> Image.Image:
    """Open lazily: Pillow reads only the header here, not the pixels."""
    with _pil_errors_as_input_error(max_pixels=max_pixels):
        return Image.open(io.BytesIO(data), formats=list(formats))


def _check_pixels(size: tuple[int, int], limits: DecodeLimits, page_prefix: str) -> None:
    pixels = size[0] * size[1]
    if pixels > limits.max_pixels:
        raise InputError(f"{page_prefix}Image pixel count {pixels} exceeds maximum allowed {limits.max_pixels}.")
    if pixels < 1:
        raise InputError(f"{page_prefix}{INVALID_INPUT}: the image is empty")


def _exif_orientation(image: Image.Image) -> int:
    with _pil_errors_as_input_error():
        orientation = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    return orientation if orientation in _ORIENTATION_TRANSPOSE else 1


@functools.cache
def _pillow_orients_tiff() -> bool:
    """Whether this Pillow applies a TIFF's Orientation tag itself (recent versions do, on load,
    and already report the oriented size after open). Probed once rather than keyed to a version."""
    probe = io.BytesIO()
    exif = Image.Exif()
    exif[_EXIF_ORIENTATION_TAG] = 6
    Image.new("L", (2, 1)).save(probe, "TIFF", exif=exif.tobytes())
    with Image.open(probe) as image:
        return image.size == (1, 2)


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    """The frame's size after EXIF orientation is applied, read from the header only."""
    width, height = image.size
    if image.format == "TIFF" and _pillow_orients_tiff():
        return width, height
    return (height, width) if _exif_orientation(image) in _TRANSPOSED_ORIENTATIONS else (width, height)


def _decode_frame(image: Image.Image, page_prefix: str = "") -> np.ndarray:
    """Decode the current frame's pixels into a BGR uint8 array (header already checked)."""
    with _pil_errors_as_input_error(page_prefix):
        image.load()
        # Read after load(): Pillow's TIFF loader applies the orientation itself and drops the tag.
        orientation = _exif_orientation(image)
        if orientation != 1:
            # Like cv2.imdecode(IMREAD_COLOR). Not ImageOps.exif_transpose: it copies unrotated images.
            image = image.transpose(_ORIENTATION_TRANSPOSE[orientation])
        return _to_bgr(image)


def _to_bgr(image: Image.Image) -> np.ndarray:
    """BGR uint8 pixels from any Pillow mode: alpha composited on white, deep samples scaled down."""
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE_RGBA)
        rgb = Image.alpha_composite(background, rgba).convert("RGB")
        return cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)
    if image.mode in _HIGH_BIT_MODES or image.mode in ("L", "F"):
        return cv2.cvtColor(_gray8(image), cv2.COLOR_GRAY2BGR)
    # An RGB frame (most photos and scans) is read as it is: convert() would copy the whole frame once more.
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)


def _gray8(image: Image.Image) -> np.ndarray:
    samples = np.asarray(image)
    if image.mode == "F":  # float samples are taken as 0..1
        return np.clip(samples * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if image.mode in _HIGH_BIT_MODES:
        # Pillow's convert() clips 16-bit values instead of scaling them; scale like OpenCV does.
        if samples.dtype.kind == "i":  # mode "I" is int32; treat it as 16-bit data
            samples = np.clip(samples, 0, 0xFFFF)
        return (samples >> 8).astype(np.uint8)
    return samples


def _open_image(data: bytes, limits: DecodeLimits) -> Document:
    image_format = _sniff_image_format(data)
    formats = (image_format,) if image_format else _PIL_FORMATS
    with _open_pil(data, formats, limits.max_pixels) as image:
        if image.format == "TIFF":
            with _pil_errors_as_input_error():
                frames = getattr(image, "n_frames", 1)
            if frames > 1:
                return _open_tiff(data, image, frames, limits)
        # Other animated formats (GIF, APNG, WEBP) are pictures, not documents: first frame only.
        _check_pixels(image.size, limits, page_prefix="")
        return ImageDocument(_decode_frame(image))


def _open_tiff(data: bytes, image: Image.Image, frames: int, limits: DecodeLimits) -> TiffDocument:
    num_pages = _apply_page_limit(frames, limits)
    sizes = []
    for index in range(num_pages):
        prefix = f"Page {index + 1}: "
        with _pil_errors_as_input_error(prefix):
            image.seek(index)  # reads this frame's directory only
        _check_pixels(image.size, limits, prefix)
        sizes.append(_oriented_size(image))
    return TiffDocument(data, frames, sizes)


# --------------------------------------------------------------------------------------------------
# Entry points


def open_document(
    data: bytes,
    file_type: Literal[0, 1] | None,
    limits: DecodeLimits,
    *,
    name_hint: str | None = None,
) -> Document:
    """Open ``data`` as a lazy :class:`Document`; every input problem raises :class:`InputError`.

    ``file_type`` is the request's ``fileType`` (0 = PDF, 1 = image); when None the type comes from
    the magic bytes, then from ``name_hint``'s extension (e.g. the URL's last path segment).
    """
    _check_file_size(data, limits)
    if _resolve_family(data, file_type, name_hint) == "pdf":
        return PdfDocument(data, limits)
    return _open_image(data, limits)


def _check_file_size(data: bytes, limits: DecodeLimits) -> None:
    if not data:
        raise InputError(f"{INVALID_INPUT}: the file is empty")
    if limits.max_file_bytes is not None and len(data) > limits.max_file_bytes:
        raise InputError(f"File exceeds {limits.max_file_bytes} bytes")


def data_info(document: Document) -> dict[str, object]:
    """The wire ``dataInfo``: the image's size, or the rendered size of every processed page."""
    if document.kind == "image":
        width, height = document.page_size(0)
        return {"width": width, "height": height, "type": "image"}
    pages = [document.page_size(i) for i in range(document.num_pages)]
    return {
        "numPages": document.num_pages,
        "pages": [{"width": w, "height": h} for w, h in pages],
        "type": document.kind,
    }
