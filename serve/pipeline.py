"""One request's journey: load the file, render pages lazily and stream them through the two stages, restructure
the document across pages when asked, then write each page's result, its files handed to the request's delivery.

`DocumentPipeline` only depends on two small async stage interfaces, so the same code runs behind Ray Serve
handles (the service) and over in-process models (the benchmark's direct baseline).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from layout.assemble import attach_pictures, blocks_from_boxes, number_blocks
from layout.crop import encode_jpeg
from layout.decode import Document, InputError, data_info, decode_base64, open_document
from layout.ink import is_blank
from layout.labels import DEFAULT_MARKDOWN_IGNORE_LABELS, DEFAULT_PROMPT_LABEL, resolve_per_class
from layout.markdown import MarkdownOptions, render_page
from layout.postprocess import LayoutBox, PostprocessOptions
from layout.reading_order import insert_in_reading_order
from layout.restructure import Page, restructure_pages
from layout.text_layer import TextLayer, TextSource
from layout.types import Block
from layout.visualize import draw_layout
from layout.vl_prompts import PROMPTS, pixel_budget
from serve.backends.base import PageRecognition, RecognitionCapabilities, RecognitionOptions, Region, SpottingResult
from serve.config import ServiceConfig
from serve.delivery import Delivery
from serve.exports import DOCX_FORMAT, docx_export
from serve.layout_stage import NO_LAYOUT, LayoutRequest, LayoutResult, empty_page_layout
from serve.protocol import (
    LayoutParsingRequest,
    LayoutParsingResult,
    LayoutParsingResultSet,
    Markdown,
    ModelSettings,
)
from serve.results import pruned_result
from serve.url_fetch import fetch_url, is_url

if TYPE_CHECKING:
    from serve.page_cache import PageCache

# The key upstream stores a page's `inputImage` under (`input_img_{page}.jpg`).
INPUT_IMAGE_KEY = "input_img"


# Told of a page that failed (its index and error) when the other pages are to go on without it.
PageFailureHandler = Callable[[int, Exception], Awaitable[None]]


# A page as the stage clients take it: the BGR array, or what the pipeline's `share_page` made of it (in the
# service a Ray ObjectRef, which Ray resolves to the array in the stage's replica).
StagePage = Any


class LayoutClient(Protocol):
    async def detect(self, page: StagePage, request: LayoutRequest) -> LayoutResult: ...


class RecognitionClient(Protocol):
    async def recognize(
        self, page: StagePage, regions: Sequence[Region], options: RecognitionOptions, layer: TextLayer | None
    ) -> PageRecognition: ...


@dataclass(frozen=True)
class Restructuring:
    """`restructurePages` and its switches (spec §5.10): the document's pages restructured together."""

    merge_tables: bool
    relevel_titles: bool


@dataclass(frozen=True)
class ParseOptions:
    """A request's fields resolved once against the server's configuration, validated, in internal types.

    `settings` is the record of what runs for every page (reported as `model_settings`); the stage options are
    each stage's view of the same resolved values, built here and nowhere else.
    """

    settings: ModelSettings
    postprocess: PostprocessOptions
    recognition: RecognitionOptions
    markdown: MarkdownOptions
    visualize: bool
    return_markdown_images: bool
    # None: every page stands alone.
    restructure: Restructuring | None
    export_docx: bool
    # The page cache's partition for this request's pages (`PageCacheConfig.scope`); None: not cached.
    page_cache: str | None = None

    @property
    def use_layout_detection(self) -> bool:
        return self.settings.use_layout_detection

    @property
    def classify_orientation(self) -> bool:
        return self.settings.use_doc_preprocessor

    @classmethod
    def from_request(
        cls, request: LayoutParsingRequest, config: ServiceConfig, capabilities: RecognitionCapabilities,
        client: str | None = None, job: bool = False,
    ) -> ParseOptions:
        """`client`: the id of the API key that sent the request (serve/auth.py), None with authentication off;
        `job`: the request is a job's (the Job API)."""
        if request.useDocUnwarping:
            raise InputError("useDocUnwarping is not supported: this server has no document unwarping model")
        _check_pixel_budgets(request)
        defaults = config.layout.defaults
        postprocess = PostprocessOptions(
            threshold=_per_class_or_scalar(request.layoutThreshold, defaults.threshold),
            nms=defaults.nms if request.layoutNms is None else request.layoutNms,
            unclip_ratio=_per_class_or_scalar(request.layoutUnclipRatio, defaults.unclip_ratio),
            merge_mode=_per_class_or_scalar(request.layoutMergeBboxesMode, defaults.merge_mode),
            large_image_ratio_landscape=defaults.large_image_ratio_landscape,
            large_image_ratio_portrait=defaults.large_image_ratio_portrait,
            shape_mode=request.layoutShapeMode,
        )
        ignore = (
            list(DEFAULT_MARKDOWN_IGNORE_LABELS) if request.markdownIgnoreLabels is None else request.markdownIgnoreLabels
        )
        text_layer = request.textLayer or config.recognition.text_layer or (
            "auto" if capabilities.reads_text_layer_by_default else "off"
        )
        settings = ModelSettings(
            use_doc_preprocessor=bool(request.useDocOrientationClassify),
            use_layout_detection=request.useLayoutDetection is not False,
            use_chart_recognition=bool(request.useChartRecognition) and capabilities.chart_recognition,
            use_seal_recognition=bool(request.useSealRecognition) and capabilities.seal_recognition,
            use_ocr_for_image_block=bool(request.useOcrForImageBlock),
            format_block_content=bool(request.formatBlockContent),
            merge_layout_blocks=request.mergeLayoutBlocks is not False,
            markdown_ignore_labels=ignore,
            return_layout_polygon_points=request.layoutShapeMode != "rect",
        )
        recognition = RecognitionOptions(
            use_chart_recognition=settings.use_chart_recognition,
            use_seal_recognition=settings.use_seal_recognition,
            use_ocr_for_image_block=settings.use_ocr_for_image_block,
            merge_layout_blocks=settings.merge_layout_blocks,
            prompt_label=None if settings.use_layout_detection else request.promptLabel or DEFAULT_PROMPT_LABEL,
            temperature=request.temperature,
            top_p=request.topP,
            repetition_penalty=request.repetitionPenalty,
            max_new_tokens=request.maxNewTokens,
            min_pixels=request.minPixels,
            max_pixels=request.maxPixels,
            vlm_extra_args=request.vlmExtraArgs,
            text_layer=text_layer,
            priority=config.priorities.of(request.priority, client, job),
        )
        return cls(
            settings=settings,
            postprocess=postprocess,
            recognition=recognition,
            markdown=MarkdownOptions(
                prettify=request.prettifyMarkdown,
                show_formula_number=request.showFormulaNumber,
                ignore_labels=frozenset(ignore),
                layout_detection=settings.use_layout_detection,
            ),
            visualize=config.output.visualize if request.visualize is None else request.visualize,
            return_markdown_images=request.returnMarkdownImages,
            restructure=(
                Restructuring(merge_tables=request.mergeTables, relevel_titles=request.relevelTitles)
                if request.restructurePages else None
            ),
            export_docx=DOCX_FORMAT in (request.outputFormats or ()),
            page_cache=config.page_cache.scope(request.pageCache, client),
        )


def _check_pixel_budgets(request: LayoutParsingRequest) -> None:
    """Budgets are used deep in the recognition stage; a bad one must be a 422 here, not a failure there."""
    for task in PROMPTS:
        try:
            pixel_budget(task, min_pixels=request.minPixels, max_pixels=request.maxPixels, extra_args=request.vlmExtraArgs)
        except ValueError as exc:
            raise InputError(f"Invalid pixel budget: {exc}") from exc


def _per_class_or_scalar(value: Any, default: Any) -> Any:
    """Request value, with per-class objects keyed by label name or class id turned into class-id maps."""
    if value is None:
        return default
    if isinstance(value, dict):
        try:
            return resolve_per_class(value)
        except ValueError as exc:
            raise InputError(str(exc)) from exc
    return value


def unhonored_fields(request: LayoutParsingRequest, capabilities: RecognitionCapabilities) -> list[str]:
    """Fields a request set that this server accepts but cannot act on yet (named in a response header)."""
    wanted = {
        "useChartRecognition": bool(request.useChartRecognition) and not capabilities.chart_recognition,
        "useSealRecognition": bool(request.useSealRecognition) and not capabilities.seal_recognition,
    }
    return [name for name, unhonored in wanted.items() if unhonored]


async def load_file(request: LayoutParsingRequest, config: ServiceConfig) -> tuple[bytes, str | None]:
    """The request's file bytes and, for URLs, the file name used to infer the type."""
    if is_url(request.file):
        policy = config.input.url_fetch.policy(config.input.max_file_bytes)
        fetched = await fetch_url(request.file, policy)
        return fetched.data, fetched.name_hint
    return await asyncio.to_thread(decode_base64, request.file), None


def _blocks(layout: LayoutResult, options: ParseOptions, size: tuple[int, int]) -> list[Block]:
    """The page's blocks before they are read: the layout's regions, or with layout detection off the whole page as
    one region of the request's task (spec §5.9)."""
    if options.use_layout_detection:
        return blocks_from_boxes(layout.regions)
    task = options.recognition.prompt_label
    assert task is not None, "ParseOptions sets the page's task exactly when layout detection is off"
    return [Block(label=task, bbox=(0, 0, size[0], size[1]))]


def text_source(recognized: PageRecognition) -> TextSource:
    if recognized.from_text_layer and recognized.from_engine:
        return "mixed"
    if recognized.from_text_layer:
        return "text_layer"
    return "engine" if recognized.from_engine else "none"


def apply_recognition(
    blocks: list[Block], recognized: PageRecognition, page_size: tuple[int, int]
) -> tuple[list[Block], list[Block]]:
    """The page's blocks once read, in reading order (the backend's, when it changed it; a region read as parts
    replaced by them in its slot; regions it found on its own slotted in), and the figures tables absorbed (no longer
    blocks, still pictures)."""
    for block, reading in zip(blocks, recognized.regions, strict=True):
        block.content = reading.content
        if reading.group_leader is not None:
            block.group_leader = blocks[reading.group_leader]
    order = range(len(blocks)) if recognized.order is None else recognized.order
    absorbed = [block for block, reading in zip(blocks, recognized.regions) if reading.absorbed_by is not None]
    kept = []
    for i in order:
        reading = recognized.regions[i]
        if reading.parts:
            kept += [Block(label=part.region.label, bbox=part.region.bbox, content=part.content) for part in reading.parts]
        elif reading.absorbed_by is None:
            kept.append(blocks[i])
    if recognized.found:
        found = [Block(label=f.region.label, bbox=f.region.bbox, content=f.content) for f in recognized.found]
        kept = insert_in_reading_order(kept, found, page_size)
    return kept, absorbed


@dataclass
class ReadPage:
    """One page once read, before its result is written: the upright page's blocks in reading order and the files
    the result will carry (JPEG bytes, delivered inline or as URLs when the result is written)."""

    width: int
    height: int
    blocks: list[Block]
    # `layout_det_res`: None when layout detection was off.
    boxes: list[LayoutBox] | None
    angle: int | None
    spotting: SpottingResult | None
    # Where the page's text came from (`model_settings.text_source`); None when the page had no text layer in play
    # (an image, `text_layer: off`), and the settings then keep upstream's keys.
    text_source: TextSource | None
    # `markdown.images` by `imgs/…` path, including the figures tables absorbed.
    markdown_images: dict[str, bytes]
    # `outputImages` by key, and `inputImage`; empty and None without visualisation.
    output_images: dict[str, bytes]
    input_image: bytes | None


def _restructured(pages: Sequence[ReadPage], restructure: Restructuring) -> list[ReadPage]:
    """The document's pages restructured together (spec §5.10): continued tables merged, titles re-levelled."""
    restructured = restructure_pages(
        [Page(p.width, p.height, tuple(p.blocks)) for p in pages],
        merge_tables=restructure.merge_tables,
        relevel_titles=restructure.relevel_titles,
    )
    return [replace(page, blocks=list(new.blocks)) for page, new in zip(pages, restructured, strict=True)]


class DocumentPipeline:
    def __init__(
        self, config: ServiceConfig, layout: LayoutClient, recognition: RecognitionClient,
        cache: PageCache | None = None, share_page: Callable[[np.ndarray], StagePage] = lambda page: page,
    ) -> None:
        """`share_page` hands over a page that both stages read. The ingress passes `ray.put`: the page goes into
        Ray's object store once and both stage calls carry a reference, where each call with the array would copy
        the pixels in again."""
        self._config = config
        self._layout = layout
        self._recognition = recognition
        self._cache = cache
        self._share_page = share_page

    async def parse(
        self, data: bytes, file_type: int | None, name_hint: str | None, options: ParseOptions, delivery: Delivery,
        admit_pages: Callable[[int], Awaitable[None]] | None = None,
    ) -> LayoutParsingResultSet:
        """The `result` object of a successful response. `admit_pages(n)` is awaited once the page count is
        known, before any page work; it may refuse the document by raising (a page quota)."""
        document = await self.open(data, file_type, name_hint)
        try:
            if admit_pages is not None:
                await admit_pages(document.num_pages)
            results: list[LayoutParsingResult | None] = [None] * document.num_pages
            async with aclosing(self.page_results(document, options, delivery)) as pages:
                async for index, result in pages:
                    results[index] = result
            info = data_info(document)
        finally:
            document.close()
        return LayoutParsingResultSet(layoutParsingResults=results, dataInfo=info)

    async def open(self, data: bytes, file_type: int | None, name_hint: str | None) -> Document:
        """The document, its pages not rendered yet; a file that is not one is an InputError. Close it after use."""
        return await asyncio.to_thread(
            open_document, data, file_type, self._config.input.decode_limits(), name_hint=name_hint
        )

    async def page_results(
        self, document: Document, options: ParseOptions, delivery: Delivery, indices: Sequence[int] | None = None,
        on_failure: PageFailureHandler | None = None,
    ) -> AsyncIterator[tuple[int, LayoutParsingResult]]:
        """The result of every page (or of the pages at `indices`) with its index, each as soon as it is written;
        with `restructurePages`, all of them after the last page is read, since restructuring looks at the whole
        document. Close it (`aclosing`) to stop early: that cancels the pages in flight.

        A page that fails ends the whole, unless `on_failure` is given: then the page and its error go to it, and
        the other pages go on."""
        indices = range(document.num_pages) if indices is None else indices
        async with aclosing(self._read_pages(document, options, indices, on_failure)) as pages:
            if options.restructure is None:
                async for index, page in pages:
                    if (result := await self._written(page, index, options, delivery, on_failure)) is not None:
                        yield index, result
                return
            finished = sorted([pair async for pair in pages], key=lambda pair: pair[0])
        read = _restructured([page for _, page in finished], options.restructure)
        for (index, _), page in zip(finished, read, strict=True):
            if (result := await self._written(page, index, options, delivery, on_failure)) is not None:
                yield index, result

    async def _written(
        self, page: ReadPage, index: int, options: ParseOptions, delivery: Delivery,
        on_failure: PageFailureHandler | None,
    ) -> LayoutParsingResult | None:
        try:
            return await self.page_result(page, index, options, delivery)
        except Exception as exc:
            if on_failure is None:
                raise
            await on_failure(index, exc)
            return None

    async def _read_pages(
        self, document: Document, options: ParseOptions, indices: Sequence[int],
        on_failure: PageFailureHandler | None,
    ) -> AsyncIterator[tuple[int, ReadPage]]:
        """Every page read, in the order they finish. Pages run concurrently up to a bound: while page n is in
        recognition, page n+1 is in layout and page n+2 is rendering, yet a 300-page PDF never holds more than the
        bound of page bitmaps in memory."""
        slots = asyncio.Semaphore(self._config.pipeline.pages_in_flight_per_request)

        def load(index: int) -> tuple[np.ndarray, TextLayer | None]:
            layer = document.text_layer(index) if options.recognition.text_layer != "off" else None
            return document.page(index), layer

        async def one_page(index: int) -> tuple[int, ReadPage | None]:
            async with slots:
                try:
                    page, layer = await asyncio.to_thread(load, index)
                    return index, await self._read_or_recall(page, options, layer)
                except Exception as exc:
                    if on_failure is None:
                        raise
                    await on_failure(index, exc)
                    return index, None

        tasks = [asyncio.create_task(one_page(i)) for i in indices]
        try:
            for finished in asyncio.as_completed(tasks):
                index, page = await finished
                if page is not None:
                    yield index, page
        finally:
            for task in tasks:
                task.cancel()

    async def _read_or_recall(self, page: np.ndarray, options: ParseOptions, layer: TextLayer | None) -> ReadPage:
        """The page read, or as read before when the page cache has it (then neither stage sees it)."""
        if self._cache is None or options.page_cache is None:
            return await self.read_page(page, options, layer)
        key = await asyncio.to_thread(self._cache.key, page, layer, options)
        if (recalled := await self._cache.get(key)) is not None:
            return recalled
        read = await self.read_page(page, options, layer)
        await self._cache.put(key, read)
        return read

    async def read_page(self, page: np.ndarray, options: ParseOptions, layer: TextLayer | None = None) -> ReadPage:
        """Layout stage, then recognition stage, for one page image (BGR) and its PDF text layer, if any. A page
        with neither ink nor text skips both: there is nothing on it to find or read."""
        source: TextSource | None = None if layer is None else "none"
        if (layer is None or layer.empty) and await asyncio.to_thread(is_blank, page):
            nothing = empty_page_layout(options.classify_orientation)
            blocks = _blocks(nothing, options, (page.shape[1], page.shape[0]))
            number_blocks(blocks, options.settings.markdown_ignore_labels)
            return await asyncio.to_thread(self._page_files, page, page, blocks, [], nothing, None, source, options)
        if options.use_layout_detection or options.classify_orientation:
            sent = self._share_page(page)
            layout = await self._layout.detect(
                sent,
                LayoutRequest(
                    classify_orientation=options.classify_orientation,
                    postprocess=options.postprocess if options.use_layout_detection else None,
                ),
            )
        else:
            # Nothing for the layout stage to do: skip the hop (and the page's trip through the object store).
            sent, layout = page, NO_LAYOUT
        original = page
        page = original if layout.upright is None else layout.upright
        if layout.upright is not None:
            # Its boxes are in the pixels of the page as the PDF draws it, which the classifier found turned.
            layer = None
        size = (page.shape[1], page.shape[0])
        blocks = _blocks(layout, options, size)
        recognized = await self._recognition.recognize(
            sent if layout.upright is None else page, [Region(b.label, b.bbox, b.polygon) for b in blocks],
            options.recognition, layer,
        )
        if source is not None:
            source = text_source(recognized)
        blocks, absorbed = apply_recognition(blocks, recognized, size)
        number_blocks(blocks, options.settings.markdown_ignore_labels)
        return await asyncio.to_thread(
            self._page_files, original, page, blocks, absorbed, layout, recognized.spotting, source, options
        )

    def _page_files(
        self, original: np.ndarray, page: np.ndarray, blocks: list[Block], absorbed: list[Block],
        layout: LayoutResult, spotting: SpottingResult | None, source: TextSource | None, options: ParseOptions,
    ) -> ReadPage:
        max_side = self._config.output.max_output_image_side
        boxes = layout.boxes if options.use_layout_detection else None
        output_images: dict[str, bytes] = {}
        input_image = None
        if options.visualize:
            if boxes is not None:
                output_images["layout_det_res"] = encode_jpeg(draw_layout(page, boxes), max_side=max_side)
            if options.settings.use_doc_preprocessor:
                output_images["preprocessed_img"] = encode_jpeg(page, max_side=max_side)
            input_image = encode_jpeg(original, max_side=max_side)
        return ReadPage(
            width=page.shape[1],
            height=page.shape[0],
            blocks=blocks,
            boxes=boxes,
            angle=layout.angle,
            spotting=spotting,
            text_source=source,
            markdown_images=attach_pictures(page, blocks + absorbed, options.markdown, max_side),
            output_images=output_images,
            input_image=input_image,
        )

    async def page_result(
        self, page: ReadPage, index: int, options: ParseOptions, delivery: Delivery
    ) -> LayoutParsingResult:
        """The page's result, its files delivered under upstream's names for page `index`."""
        settings = options.settings
        if page.text_source is not None:
            settings = settings.model_copy(
                update={"text_layer": options.recognition.text_layer, "text_source": page.text_source}
            )
        pruned = pruned_result(
            (page.width, page.height), settings, page.blocks, page.boxes, page.angle, options.markdown, page.spotting
        )
        markdown = Markdown(text=render_page(page.blocks, page.width, options.markdown))
        if options.return_markdown_images:
            markdown.images = await delivery.deliver_all(page.markdown_images, f"markdown_{index}/{{key}}")
        result = LayoutParsingResult(prunedResult=pruned, markdown=markdown)
        if options.visualize:
            result.outputImages = await delivery.deliver_all(page.output_images, f"{{key}}_{index}.jpg")
            if page.input_image is not None:
                result.inputImage = await delivery.deliver(f"{INPUT_IMAGE_KEY}_{index}.jpg", page.input_image)
        if options.export_docx:
            result.exports = await docx_export(
                page.blocks, page.width, page.markdown_images, f"page_{index}", options.markdown, delivery
            )
        return result
