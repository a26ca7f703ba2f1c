"""One request's journey: load the file, render pages lazily, and stream them through the two stages.

`DocumentPipeline` only depends on two small async stage interfaces, so the same code runs behind Ray Serve
handles (the service) and over in-process models (the benchmark's direct baseline).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from layout.assemble import attach_pictures, blocks_from_boxes, number_blocks
from layout.crop import encode_jpeg_base64
from layout.decode import Document, InputError, data_info, decode_base64, open_document
from layout.labels import DEFAULT_MARKDOWN_IGNORE_LABELS, resolve_per_class
from layout.markdown import MarkdownOptions, render_page
from layout.postprocess import PostprocessOptions
from layout.reading_order import insert_in_reading_order
from layout.types import Block
from layout.visualize import draw_layout
from layout.vl_prompts import PROMPTS, pixel_budget
from serve.backends.base import PageRecognition, RecognitionCapabilities, RecognitionOptions, Region, SpottingResult
from serve.config import ServiceConfig
from serve.layout_stage import NO_LAYOUT, LayoutRequest, LayoutResult
from serve.protocol import (
    LayoutParsingRequest,
    LayoutParsingResult,
    LayoutParsingResultSet,
    Markdown,
    ModelSettings,
)
from serve.results import pruned_result
from serve.url_fetch import fetch_url, is_url


class LayoutClient(Protocol):
    async def detect(self, page: np.ndarray, request: LayoutRequest) -> LayoutResult: ...


class RecognitionClient(Protocol):
    async def recognize(
        self, page: np.ndarray, regions: Sequence[Region], options: RecognitionOptions
    ) -> PageRecognition: ...


@dataclass(frozen=True)
class PageBlocks:
    """A recognised page: its blocks in reading order, the figures tables absorbed (no longer blocks, still
    pictures), and the spotting result when the page was read with that task."""

    blocks: list[Block]
    absorbed: list[Block]
    spotting: SpottingResult | None


@dataclass(frozen=True)
class ParseOptions:
    """A request's fields resolved against the server's defaults, validated, in internal types."""

    use_layout_detection: bool
    classify_orientation: bool
    postprocess: PostprocessOptions
    recognition: RecognitionOptions
    markdown: MarkdownOptions
    settings: ModelSettings
    visualize: bool
    return_markdown_images: bool

    @classmethod
    def from_request(
        cls, request: LayoutParsingRequest, config: ServiceConfig, capabilities: RecognitionCapabilities
    ) -> ParseOptions:
        if request.useDocUnwarping:
            raise InputError("useDocUnwarping is not supported: this server has no document unwarping model")
        _check_pixel_budgets(request)
        defaults = config.layout.defaults.options()
        postprocess = replace(
            defaults,
            threshold=_per_class_or_scalar(request.layoutThreshold, defaults.threshold),
            nms=defaults.nms if request.layoutNms is None else request.layoutNms,
            unclip_ratio=_per_class_or_scalar(request.layoutUnclipRatio, defaults.unclip_ratio),
            merge_mode=_per_class_or_scalar(request.layoutMergeBboxesMode, defaults.merge_mode),
            shape_mode=request.layoutShapeMode,
        )
        ignore = (
            list(DEFAULT_MARKDOWN_IGNORE_LABELS) if request.markdownIgnoreLabels is None else request.markdownIgnoreLabels
        )
        use_layout = request.useLayoutDetection is not False
        recognition = RecognitionOptions(
            use_chart_recognition=bool(request.useChartRecognition) and capabilities.chart_recognition,
            use_seal_recognition=bool(request.useSealRecognition) and capabilities.seal_recognition,
            use_ocr_for_image_block=bool(request.useOcrForImageBlock),
            merge_layout_blocks=request.mergeLayoutBlocks is not False,
            prompt_label=None if use_layout else request.promptLabel or "ocr",
            temperature=request.temperature,
            top_p=request.topP,
            repetition_penalty=request.repetitionPenalty,
            max_new_tokens=request.maxNewTokens,
            min_pixels=request.minPixels,
            max_pixels=request.maxPixels,
            vlm_extra_args=request.vlmExtraArgs,
        )
        classify = bool(request.useDocOrientationClassify)
        settings = ModelSettings(
            use_doc_preprocessor=classify,
            use_layout_detection=use_layout,
            use_chart_recognition=recognition.use_chart_recognition,
            use_seal_recognition=recognition.use_seal_recognition,
            use_ocr_for_image_block=recognition.use_ocr_for_image_block,
            format_block_content=bool(request.formatBlockContent),
            merge_layout_blocks=recognition.merge_layout_blocks,
            markdown_ignore_labels=ignore,
            return_layout_polygon_points=request.layoutShapeMode != "rect",
        )
        return cls(
            use_layout_detection=use_layout,
            classify_orientation=classify,
            postprocess=postprocess,
            recognition=recognition,
            markdown=MarkdownOptions(
                prettify=request.prettifyMarkdown,
                show_formula_number=request.showFormulaNumber,
                ignore_labels=frozenset(ignore),
                layout_detection=use_layout,
            ),
            settings=settings,
            visualize=config.output.visualize if request.visualize is None else request.visualize,
            return_markdown_images=request.returnMarkdownImages,
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
        "restructurePages": request.restructurePages,
        "outputFormats": bool(request.outputFormats),
    }
    return [name for name, unhonored in wanted.items() if unhonored]


async def load_file(request: LayoutParsingRequest, config: ServiceConfig) -> tuple[bytes, str | None]:
    """The request's file bytes and, for URLs, the file name used to infer the type."""
    if is_url(request.file):
        policy = config.input.url_fetch.policy(config.input.max_file_bytes)
        fetched = await fetch_url(request.file, policy)
        return fetched.data, fetched.name_hint
    return await asyncio.to_thread(decode_base64, request.file), None


def apply_recognition(
    blocks: list[Block], recognized: PageRecognition, page_size: tuple[int, int]
) -> tuple[list[Block], list[Block]]:
    """The page's blocks once read, in reading order (the backend's, when it changed it; regions it found on its
    own slotted in), and the figures tables absorbed (no longer blocks, still pictures)."""
    for block, reading in zip(blocks, recognized.regions, strict=True):
        block.content = reading.content
        if reading.group_leader is not None:
            block.group_leader = blocks[reading.group_leader]
    order = range(len(blocks)) if recognized.order is None else recognized.order
    absorbed = [block for block, reading in zip(blocks, recognized.regions) if reading.absorbed_by is not None]
    kept = [blocks[i] for i in order if recognized.regions[i].absorbed_by is None]
    if recognized.found:
        found = [Block(label=f.region.label, bbox=f.region.bbox, content=f.content) for f in recognized.found]
        kept = insert_in_reading_order(kept, found, page_size)
    return kept, absorbed


class DocumentPipeline:
    def __init__(self, config: ServiceConfig, layout: LayoutClient, recognition: RecognitionClient) -> None:
        self._config = config
        self._layout = layout
        self._recognition = recognition

    async def parse(
        self, data: bytes, file_type: int | None, name_hint: str | None, options: ParseOptions,
        admit_pages: Callable[[int], Awaitable[None]] | None = None,
    ) -> LayoutParsingResultSet:
        """The `result` object of a successful response. `admit_pages(n)` is awaited once the page count is
        known, before any page work; it may refuse the document by raising (a page quota)."""
        document = await asyncio.to_thread(
            open_document, data, file_type, self._config.input.decode_limits(), name_hint=name_hint
        )
        try:
            if admit_pages is not None:
                await admit_pages(document.num_pages)
            pages = await self._parse_pages(document, options)
            return LayoutParsingResultSet.model_validate(
                {"layoutParsingResults": pages, "dataInfo": data_info(document)}
            )
        finally:
            document.close()

    async def _parse_pages(self, document: Document, options: ParseOptions) -> list[LayoutParsingResult]:
        # Pages run concurrently up to a bound: while page n is in recognition, page n+1 is in layout and
        # page n+2 is rendering, yet a 300-page PDF never holds more than the bound in memory.
        slots = asyncio.Semaphore(self._config.pipeline.pages_in_flight_per_request)

        async def one_page(index: int) -> LayoutParsingResult:
            async with slots:
                page = await asyncio.to_thread(document.page, index)
                return await self.parse_page(page, options)

        tasks = [asyncio.create_task(one_page(i)) for i in range(document.num_pages)]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:
                task.cancel()

    async def parse_page(self, page: np.ndarray, options: ParseOptions) -> LayoutParsingResult:
        if options.use_layout_detection or options.classify_orientation:
            layout = await self._layout.detect(
                page,
                LayoutRequest(
                    classify_orientation=options.classify_orientation,
                    postprocess=options.postprocess if options.use_layout_detection else None,
                ),
            )
        else:
            # Nothing for the layout stage to do: skip the hop (and the page's trip through the object store).
            layout = NO_LAYOUT
        original = page
        page = original if layout.upright is None else layout.upright
        size = (page.shape[1], page.shape[0])
        if options.use_layout_detection:
            blocks = blocks_from_boxes(layout.regions)
        else:
            blocks = [Block(label=options.recognition.prompt_label or "ocr", bbox=(0, 0, size[0], size[1]))]
        recognized = await self._recognition.recognize(
            page, [Region(b.label, b.bbox, b.polygon) for b in blocks], options.recognition
        )
        blocks, absorbed = apply_recognition(blocks, recognized, size)
        number_blocks(blocks, options.settings.markdown_ignore_labels)
        return await asyncio.to_thread(
            self._page_result, original, page, PageBlocks(blocks, absorbed, recognized.spotting), layout, options
        )

    def _page_result(
        self, original: np.ndarray, page: np.ndarray, parsed: PageBlocks, layout: LayoutResult, options: ParseOptions
    ) -> LayoutParsingResult:
        width = page.shape[1]
        max_side = self._config.output.max_output_image_side
        images = attach_pictures(page, parsed.blocks + parsed.absorbed, options.markdown, max_side)
        boxes = layout.boxes if options.use_layout_detection else None
        pruned = pruned_result(
            (width, page.shape[0]), options.settings, parsed.blocks, boxes, layout.angle, options.markdown,
            parsed.spotting,
        )
        markdown = Markdown(text=render_page(parsed.blocks, width, options.markdown))
        if options.return_markdown_images:
            markdown.images = images
        result = LayoutParsingResult(prunedResult=pruned, markdown=markdown)
        if options.visualize:
            output_images = {}
            if boxes is not None:
                output_images["layout_det_res"] = encode_jpeg_base64(draw_layout(page, boxes), max_side=max_side)
            if options.settings.use_doc_preprocessor:
                output_images["preprocessed_img"] = encode_jpeg_base64(page, max_side=max_side)
            result.outputImages = output_images
            result.inputImage = encode_jpeg_base64(original, max_side=max_side)
        return result
