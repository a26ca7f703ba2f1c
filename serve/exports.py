"""`outputFormats` (spec §3.3 `exports`): a page's, or a concatenated document's, DOCX, delivered like its images."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from docx.image.exceptions import UnrecognizedImageError

from layout.decode import InputError
from layout.docx_export import document_docx
from layout.markdown import MarkdownOptions
from layout.types import Block
from serve.delivery import Delivery
from serve.protocol import DocumentExports, ExportContent

DOCX_FORMAT = "docx"


async def docx_export(
    blocks: Sequence[Block], page_width: int, images: Mapping[str, bytes], stem: str, markdown: MarkdownOptions,
    delivery: Delivery,
) -> DocumentExports:
    """`exports` with the DOCX of `blocks` (reading order) named `<stem>.docx`. Upstream names it after a random
    temporary file; a stable name tells the client which page it holds."""
    try:
        data = await asyncio.to_thread(document_docx, blocks, images, page_width, markdown=markdown)
    except UnrecognizedImageError as exc:
        # Only images a client sent back (`/restructure-pages`) can be other than the JPEGs this service makes.
        raise InputError("An image of the document is in a format a DOCX cannot hold") from exc
    file_name = f"{stem}.{DOCX_FORMAT}"
    content = await delivery.deliver(f"exports/{file_name}", data)
    return DocumentExports(docx=ExportContent(content=content, fileName=file_name))
