"""The wire contract of `POST /layout-parsing` (PaddleX 3.7.2, spec §2–3): request, envelope, result.

Field names are the contract's camelCase. Validation failures become 422 envelopes in `serve.errors`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from layout.labels import PROMPT_LABELS
from layout.text_layer import TextLayerMode, TextSource
from serve.priority import Priority

MergeMode = Literal["large", "small", "union"]
PromptLabel = Literal[PROMPT_LABELS]  # type: ignore[valid-type]


class LayoutParsingRequest(BaseModel):
    """Body of `POST /layout-parsing`. `null` or absent means "use the server's configured default"."""

    # Unknown fields are ignored, as upstream does, so newer clients keep working.
    model_config = ConfigDict(extra="ignore")

    file: str = Field(description="http(s) URL, Base64 of the file bytes, or a `data:` URI (extension).")
    fileType: Literal[0, 1] | None = Field(default=None, description="0 = PDF, 1 = image (incl. TIFF).")
    useDocOrientationClassify: bool | None = None
    useDocUnwarping: bool | None = None
    useLayoutDetection: bool | None = None
    useChartRecognition: bool | None = None
    useSealRecognition: bool | None = None
    useOcrForImageBlock: bool | None = None
    layoutThreshold: float | dict[str, float] | None = Field(
        default=None, description="Scalar, or per class keyed by label name or class id."
    )
    layoutNms: bool | None = None
    layoutUnclipRatio: float | tuple[float, float] | dict[str, float | tuple[float, float]] | None = None
    layoutMergeBboxesMode: MergeMode | dict[str, MergeMode] | None = None
    layoutShapeMode: Literal["rect", "quad", "poly", "auto"] = "auto"
    promptLabel: PromptLabel | None = None
    formatBlockContent: bool | None = None
    repetitionPenalty: float | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0)
    topP: float | None = Field(default=None, gt=0, le=1)
    minPixels: int | None = Field(default=None, gt=0)
    maxPixels: int | None = Field(default=None, gt=0)
    maxNewTokens: int | None = Field(default=None, gt=0)
    mergeLayoutBlocks: bool | None = None
    markdownIgnoreLabels: list[str] | None = None
    vlmExtraArgs: dict[str, Any] | None = None
    prettifyMarkdown: bool = True
    showFormulaNumber: bool = False
    returnMarkdownImages: bool = True
    restructurePages: bool = False
    mergeTables: bool = True
    relevelTitles: bool = True
    outputFormats: list[Literal["docx"]] | None = None
    visualize: bool | None = None
    logId: str | None = None
    priority: Priority | None = Field(
        default=None,
        description="Extension: `batch` marks the request as bulk work, which every stage takes after interactive "
        "work. Null or `interactive`: the class of the API key (`priorities.batch_clients`).",
    )
    pageCache: bool | None = Field(
        default=None,
        description="Extension: false reads every page afresh even when the server's page cache holds it (a page "
        "sent again is otherwise answered from the cache, when `page_cache` is enabled). Null: use the cache.",
    )
    textLayer: TextLayerMode | None = Field(
        default=None,
        description="Extension: where region text comes from on PDF pages: `auto` (the PDF's text layer where it is "
        "trustworthy, the engine elsewhere), `off` (the engine only), `only` (the text layer only). Null: the "
        "server's `recognition.text_layer`.",
    )

    @field_validator("layoutThreshold")
    @classmethod
    def _threshold_in_unit_interval(cls, value: float | dict[str, float] | None) -> float | dict[str, float] | None:
        values = value.values() if isinstance(value, dict) else [] if value is None else [value]
        if any(not 0 <= v <= 1 for v in values):
            raise ValueError("thresholds must lie in [0, 1]")
        return value

    @field_validator("layoutUnclipRatio")
    @classmethod
    def _unclip_positive(cls, value: Any) -> Any:
        items = value.values() if isinstance(value, dict) else [] if value is None else [value]
        numbers = [n for item in items for n in (item if isinstance(item, tuple) else (item,))]
        if any(n <= 0 for n in numbers):
            raise ValueError("unclip ratios must be > 0")
        return value

    @model_validator(mode="after")
    def _pixel_budget_ordered(self) -> LayoutParsingRequest:
        if self.minPixels is not None and self.maxPixels is not None and self.minPixels > self.maxPixels:
            raise ValueError("minPixels must be <= maxPixels")
        return self


# The success response (spec §3.3-3.4). Fields whose default is None and that upstream leaves out when they do
# not apply (`layout_det_res` with layout off, `block_polygon_points` without outlines, `outputImages` without
# visualisation, ...) are left unset, and responses are written without unset fields: the JSON has exactly
# upstream's keys, in upstream's order. Fields that upstream sends as null (`page_count`, `block_order`) are set.
# Numbers keep their type (`int | float`): a coordinate that is an int on the wire stays one.
Number = int | float
Point = tuple[Number, Number]


class ModelSettings(BaseModel):
    """What actually ran for this page."""

    use_doc_preprocessor: bool
    use_layout_detection: bool
    use_chart_recognition: bool
    use_seal_recognition: bool
    use_ocr_for_image_block: bool
    format_block_content: bool
    merge_layout_blocks: bool
    markdown_ignore_labels: list[str]
    return_layout_polygon_points: bool
    # Extensions, set only on pages that had a PDF text layer in play: the text-layer mode, and where this page's
    # text came from (layout/text_layer.py).
    text_layer: TextLayerMode | None = None
    text_source: TextSource | None = None


class ParsingBlock(BaseModel):
    block_label: str
    block_content: str
    block_bbox: list[Number]
    block_id: int
    block_order: int | None
    group_id: int
    block_polygon_points: list[Point] | None = None
    # Only after cross-page restructuring (spec §3.4): the block's index in the whole document, and for a table
    # continued from an earlier page, the global id of the block it was merged into.
    global_block_id: int | None = None
    global_group_id: int | None = None


class LayoutDetBox(BaseModel):
    cls_id: int
    label: str
    score: float
    coordinate: list[Number]
    order: int | None
    polygon_points: list[Point] | None = None


class LayoutDetResult(BaseModel):
    boxes: list[LayoutDetBox]


class DocPreprocessorSettings(BaseModel):
    use_doc_orientation_classify: bool
    use_doc_unwarping: bool


class DocPreprocessorResult(BaseModel):
    model_settings: DocPreprocessorSettings
    # The page's clockwise rotation; -1 when orientation was not classified.
    angle: int


class SpottingRes(BaseModel):
    rec_polys: list[list[Point]]
    rec_texts: list[str]


class PrunedResult(BaseModel):
    page_count: int | None
    width: int
    height: int
    model_settings: ModelSettings
    parsing_res_list: list[ParsingBlock]
    layout_det_res: LayoutDetResult | None = None
    doc_preprocessor_res: DocPreprocessorResult | None = None
    spotting_res: SpottingRes | None = None


class Markdown(BaseModel):
    text: str
    images: dict[str, str] | None = None


class ExportContent(BaseModel):
    """One exported file: Base64 or a URL, as the images are delivered."""

    content: str
    fileName: str


class DocumentExports(BaseModel):
    docx: ExportContent | None = None


class LayoutParsingResult(BaseModel):
    """One page's result: complete on its own."""

    prunedResult: PrunedResult
    markdown: Markdown
    outputImages: dict[str, str] | None = None
    inputImage: str | None = None
    exports: DocumentExports | None = None


class PageSize(BaseModel):
    width: int
    height: int


class ImageInfo(BaseModel):
    width: int
    height: int
    type: Literal["image"] = "image"


class PagedInfo(BaseModel):
    numPages: int
    pages: list[PageSize]
    type: Literal["pdf", "tiff"]


class LayoutParsingResultSet(BaseModel):
    layoutParsingResults: list[LayoutParsingResult]
    dataInfo: ImageInfo | PagedInfo


class Envelope(BaseModel):
    logId: str
    errorCode: int = 0
    errorMsg: str = "Success"


class LayoutParsingResponse(Envelope):
    result: LayoutParsingResultSet


class RestructurePage(BaseModel):
    """A page of an earlier `/layout-parsing` result, as the client got it."""

    prunedResult: PrunedResult
    markdownImages: dict[str, str] | None = None


class RestructurePagesRequest(BaseModel):
    """Body of `POST /restructure-pages` (spec §3.5)."""

    model_config = ConfigDict(extra="ignore")

    pages: list[RestructurePage] = Field(min_length=1)
    mergeTables: bool = True
    relevelTitles: bool = True
    concatenatePages: bool = False
    prettifyMarkdown: bool = True
    showFormulaNumber: bool = False
    returnMarkdownImages: bool = True
    outputFormats: list[Literal["docx"]] | None = None
    logId: str | None = None


class DocumentPrunedResult(BaseModel):
    """A document concatenated into one result (`concatenatePages`): the first page's size and settings, every
    page's blocks in order, and each page's layout and preprocessing results as lists."""

    page_count: int
    width: int
    height: int
    model_settings: ModelSettings
    parsing_res_list: list[ParsingBlock]
    layout_det_res: list[LayoutDetResult] | None = None
    doc_preprocessor_res: list[DocPreprocessorResult] | None = None


class RestructuredResult(BaseModel):
    prunedResult: PrunedResult | DocumentPrunedResult
    markdown: Markdown
    exports: DocumentExports | None = None


class RestructurePagesResult(BaseModel):
    layoutParsingResults: list[RestructuredResult]


class RestructurePagesResponse(Envelope):
    result: RestructurePagesResult


class ErrorResponse(Envelope):
    """Every failure: `errorCode` equals the HTTP status."""


class Readiness(BaseModel):
    """Each stage's replicas counted by state (RUNNING, STARTING, STOPPING, ...), as Ray Serve's controller
    reports them."""

    stages: dict[str, dict[str, int]]


class ReadinessResponse(Envelope):
    """`GET /health/ready`, ready (200) or not (503, `errorCode` 503) alike."""

    result: Readiness


# The asynchronous Job API (`/api/v2/ocr/jobs`), as the official PaddleOCR client (paddleocr 3.7) sends and parses
# it. Its answers are `{"code": 0, "msg", "data"}`; its errors are the envelope above (the client reads `errorMsg`).
JobState = Literal["pending", "running", "done", "failed"]


class JobSubmission(BaseModel):
    """A job submitted as JSON (by `fileUrl`); a file upload sends the same fields as multipart form fields."""

    model_config = ConfigDict(extra="ignore")

    fileUrl: str
    model: str
    # The `/layout-parsing` fields, but `file` (validated as that endpoint validates them).
    optionalPayload: dict[str, Any] = Field(default_factory=dict)
    # 1-based pages and ranges, `"2,4-6"`; None: every page.
    pageRanges: str | None = None
    batchId: str | None = None
    # Extension: POSTed the job's final status, signed (serve/jobs/webhooks.py).
    webhookUrl: str | None = None


class JobEnvelope(BaseModel):
    logId: str
    code: int = 0
    msg: str = "Success"


class JobCreated(BaseModel):
    jobId: str


class ExtractProgress(BaseModel):
    totalPages: int
    extractedPages: int
    # ISO 8601, UTC; None until the job starts or ends.
    startTime: str | None = None
    endTime: str | None = None


class ResultUrl(BaseModel):
    # JSON Lines, one line per page: `{"pageIndex": i, "result": {"layoutParsingResults": [page], "dataInfo": …}}`.
    jsonUrl: str
    # The pages' Markdown, one after the other.
    markdownUrl: str | None = None


class FailedPage(BaseModel):
    # 0-based, as in the result's lines.
    pageIndex: int
    errorMsg: str


class JobStatus(BaseModel):
    jobId: str
    state: JobState
    extractProgress: ExtractProgress
    resultUrl: ResultUrl | None = None
    errorMsg: str | None = None
    # Extension: pages that failed after retries; the job went on without them (`jobs.fail_on_page_error`).
    failedPages: list[FailedPage] | None = None


class JobPage(BaseModel):
    """One page of a job in its order: its result line's `result`, or the error it failed with."""

    pageIndex: int
    result: dict[str, Any] | None = None
    errorMsg: str | None = None


class JobPages(BaseModel):
    """Extension: the job's pages done so far, in the job's order from `after` on, up to the first not done yet."""

    jobId: str
    state: JobState
    pages: list[JobPage]
    # Where to ask from next (`?after=`); when it equals `totalPages` the job has no pages left to serve.
    next: int
    totalPages: int


class BatchStatus(BaseModel):
    batchId: str
    extractResult: list[JobStatus]


class JobCreatedResponse(JobEnvelope):
    data: JobCreated


class JobStatusResponse(JobEnvelope):
    data: JobStatus


class JobPagesResponse(JobEnvelope):
    data: JobPages


class BatchStatusResponse(JobEnvelope):
    data: BatchStatus
