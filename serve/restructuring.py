"""`POST /restructure-pages` (spec §3.5, §5.10): pages of earlier `/layout-parsing` results restructured as one
document — continued tables merged, titles re-levelled, optionally concatenated — and their Markdown re-rendered.

The restructuring itself is `layout.restructure`, the same code `restructurePages` on `/layout-parsing` runs; this
module turns the wire pages into it and the result back into the contract.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urlsplit

from layout.decode import InputError, decode_base64
from layout.markdown import MarkdownOptions, render_document, render_page
from layout.restructure import Page, concatenate_pages, page_from_pruned_result, restructure_pages
from serve.delivery import Delivery
from serve.exports import DOCX_FORMAT, docx_export
from serve.protocol import (
    DocumentPrunedResult,
    Markdown,
    ModelSettings,
    PrunedResult,
    RestructurePagesRequest,
    RestructurePagesResult,
    RestructuredResult,
)
from serve.results import parsing_blocks
from serve.storage import ResultStore
from serve.storage.filesystem import FILES_PATH, FilesystemStore
from serve.url_fetch import FetchPolicy, fetch_url, is_url


class ImageSource:
    """The bytes behind a `markdownImages` value, for the DOCX export: Base64 as `/layout-parsing` returns inline,
    a signed URL into this service's own filesystem store (resolved in place: the store may sit on a private address
    the URL fetcher refuses), or any other URL, fetched under the same policy as a request's `file` URL."""

    def __init__(self, store: ResultStore | None, policy: FetchPolicy) -> None:
        self._store = store
        self._policy = policy

    async def read(self, name: str, value: str) -> bytes:
        if not is_url(value):
            try:
                return decode_base64(value)
            except InputError as exc:
                raise InputError(f"markdownImages[{name!r}] is neither Base64 nor a URL") from exc
        stored = await self._from_own_store(value)
        if stored is not None:
            return stored
        return (await fetch_url(value, self._policy)).data

    async def _from_own_store(self, url: str) -> bytes | None:
        if not isinstance(self._store, FilesystemStore):
            return None
        parts = urlsplit(url)
        prefix = FILES_PATH + "/"
        if not parts.path.startswith(prefix):
            return None
        key = parts.path.removeprefix(prefix)
        query = parse_qs(parts.query)
        expires, signature = query.get("expires", [None])[0], query.get("signature", [None])[0]
        if self._store.signer.verified_expiry(key, expires, signature, time.time()) is None:
            raise InputError(f"The file URL {url!r} is invalid or expired")
        stored = await self._store.get(key)
        if stored is None:
            raise InputError(f"The file behind {url!r} has expired")
        return stored.data


async def restructure(
    request: RestructurePagesRequest, delivery: Delivery, images: ImageSource
) -> RestructurePagesResult:
    wire = [page.prunedResult for page in request.pages]
    pages = restructure_pages(
        [page_from_pruned_result(pruned.model_dump()) for pruned in wire],
        merge_tables=request.mergeTables,
        relevel_titles=request.relevelTitles,
    )
    if request.concatenatePages:
        results = [await _document_result(request, wire, pages, delivery, images)]
    else:
        results = [
            await _page_result(request, index, pruned, page, delivery, images)
            for index, (pruned, page) in enumerate(zip(wire, pages, strict=True))
        ]
    return RestructurePagesResult(layoutParsingResults=results)


def _markdown_options(request: RestructurePagesRequest, settings: ModelSettings) -> MarkdownOptions:
    return MarkdownOptions(
        prettify=request.prettifyMarkdown,
        show_formula_number=request.showFormulaNumber,
        ignore_labels=frozenset(settings.markdown_ignore_labels),
        layout_detection=settings.use_layout_detection,
    )


async def _page_result(
    request: RestructurePagesRequest, index: int, pruned: PrunedResult, page: Page, delivery: Delivery,
    images: ImageSource,
) -> RestructuredResult:
    markdown = _markdown_options(request, pruned.model_settings)
    blocks = parsing_blocks(page.blocks, page.width, pruned.model_settings.format_block_content, markdown)
    sent_images = request.pages[index].markdownImages
    result = RestructuredResult(
        prunedResult=pruned.model_copy(update={"parsing_res_list": blocks}),
        markdown=Markdown(text=render_page(page.blocks, page.width, markdown)),
    )
    if request.returnMarkdownImages:
        result.markdown.images = sent_images
    if DOCX_FORMAT in (request.outputFormats or ()):
        pictures = await _image_bytes(sent_images or {}, images)
        result.exports = await docx_export(page.blocks, page.width, pictures, f"page_{index}", markdown, delivery)
    return result


async def _document_result(
    request: RestructurePagesRequest, wire: Sequence[PrunedResult], pages: Sequence[Page], delivery: Delivery,
    images: ImageSource,
) -> RestructuredResult:
    """The pages as one result, shaped as upstream shapes it: the first page's size and settings, every block,
    per-page layout and preprocessing results as lists, the union of the pages' images."""
    first = wire[0]
    settings = first.model_settings
    markdown = _markdown_options(request, settings)
    document = concatenate_pages(pages)
    pruned = DocumentPrunedResult(
        page_count=len(pages),
        width=first.width,
        height=first.height,
        model_settings=settings,
        parsing_res_list=parsing_blocks(document.blocks, document.width, settings.format_block_content, markdown),
    )
    if settings.use_layout_detection:
        pruned.layout_det_res = [p.layout_det_res for p in wire if p.layout_det_res is not None]
    if settings.use_doc_preprocessor:
        pruned.doc_preprocessor_res = [p.doc_preprocessor_res for p in wire if p.doc_preprocessor_res is not None]
    sent_images = {name: value for page in request.pages for name, value in (page.markdownImages or {}).items()}
    result = RestructuredResult(prunedResult=pruned, markdown=Markdown(text=render_document(pages, markdown)))
    if request.returnMarkdownImages:
        result.markdown.images = sent_images
    if DOCX_FORMAT in (request.outputFormats or ()):
        pictures = await _image_bytes(sent_images, images)
        result.exports = await docx_export(document.blocks, document.width, pictures, "document", markdown, delivery)
    return result


async def _image_bytes(values: Mapping[str, str], images: ImageSource) -> dict[str, bytes]:
    return {name: await images.read(name, value) for name, value in values.items()}
