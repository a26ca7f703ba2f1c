"""A request mix: the documents of a directory (images and PDFs), each with its page count and a weight.

Every document is read, encoded and serialised once, up front, so the load generator spends its time sending,
not encoding. A document is picked with probability proportional to its weight: `uniform` (every document alike)
or `pages` (a 10-page PDF ten times as often as an image, so the mix's page share follows the files on disk).
"""

from __future__ import annotations

import base64
import io
import json
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError

PDF_SUFFIXES = frozenset({".pdf"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
# The contract's `fileType`: 0 = PDF, 1 = image.
PDF_FILE_TYPE = 0
IMAGE_FILE_TYPE = 1

WeightBy = Literal["uniform", "pages"]


class MixError(ValueError):
    """The documents cannot make a request mix (none found, or one unreadable)."""


@dataclass(frozen=True)
class Document:
    name: str
    pages: int
    weight: float
    # The request body, serialised once.
    body: bytes


@dataclass(frozen=True)
class Mix:
    documents: tuple[Document, ...]

    @classmethod
    def from_paths(cls, paths: Sequence[Path], options: Mapping[str, Any] | None = None,
                   weight_by: WeightBy = "uniform") -> Mix:
        """The given files, and every PDF and image directly in the given directories (sorted by name), as
        requests with the extra body fields `options` (e.g. `{"visualize": false}`)."""
        files = []
        for path in paths:
            if path.is_dir():
                found = sorted(p for p in path.iterdir() if p.suffix.lower() in PDF_SUFFIXES | IMAGE_SUFFIXES)
                if not found:
                    raise MixError(f"no PDF or image files in {path}")
                files += found
            else:
                files.append(path)
        return cls.from_files({str(p): p.read_bytes() for p in files}, options, weight_by)

    @classmethod
    def from_files(cls, files: Mapping[str, bytes], options: Mapping[str, Any] | None = None,
                   weight_by: WeightBy = "uniform") -> Mix:
        documents = []
        for name, data in files.items():
            is_pdf = Path(name).suffix.lower() in PDF_SUFFIXES
            pages = _pdf_pages(name, data) if is_pdf else _image_frames(name, data)
            body = {"file": base64.b64encode(data).decode(), "fileType": PDF_FILE_TYPE if is_pdf else IMAGE_FILE_TYPE,
                    **(options or {})}
            weight = float(pages) if weight_by == "pages" else 1.0
            documents.append(Document(name, pages, weight, json.dumps(body).encode()))
        if not documents:
            raise MixError("a request mix needs at least one document")
        return cls(tuple(documents))

    @classmethod
    def from_payloads(cls, payloads: Sequence[Mapping[str, Any]], pages: int = 1) -> Mix:
        """Ready request bodies (benchmarks that build their own), each counted as `pages` pages."""
        return cls(tuple(Document(f"payload-{i}", pages, 1.0, json.dumps(p).encode()) for i, p in enumerate(payloads)))

    def picks(self, seed: int) -> Iterator[Document]:
        """An endless, reproducible sequence of weighted picks."""
        chooser = random.Random(seed)
        weights = [d.weight for d in self.documents]
        while True:
            yield chooser.choices(self.documents, weights)[0]

    def cycle(self) -> Iterator[Document]:
        """Every document in turn, endlessly (benchmarks that send a fixed list)."""
        while True:
            yield from self.documents

    def describe(self) -> list[dict[str, Any]]:
        return [{"name": d.name, "pages": d.pages, "weight": d.weight} for d in self.documents]


def _pdf_pages(name: str, data: bytes) -> int:
    import pypdfium2 as pdfium

    try:
        return len(pdfium.PdfDocument(data))
    except pdfium.PdfiumError as exc:
        raise MixError(f"{name}: not a readable PDF ({exc})") from exc


def _image_frames(name: str, data: bytes) -> int:
    try:
        with Image.open(io.BytesIO(data)) as image:
            # A multi-page TIFF is one page per frame, as the service reads it.
            return getattr(image, "n_frames", 1)
    except (UnidentifiedImageError, OSError) as exc:
        raise MixError(f"{name}: not a readable image ({exc})") from exc
