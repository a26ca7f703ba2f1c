"""The layout-detection stage owns the page's layout: orientation (and turning the page upright), the layout
model, reading order, §5.3 post-processing and the §5.4 step-1 overlap filter, all with the request's settings.
The ingress takes the upright page and its regions as they come."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from ray import serve

from layout.crop import rotate_page
from layout.postprocess import LayoutBox, PostprocessOptions, filter_overlaps, postprocess_detections
from layout.reading_order import assign_reading_order
from serve.backends import LAYOUT_BACKENDS, ORIENTATION_BACKENDS, load_backend
from serve.backends.base import LayoutBackend, OrientationBackend
from serve.config import LayoutConfig
from serve.metrics import LAYOUT, LayoutMetrics


@dataclass(frozen=True)
class LayoutRequest:
    classify_orientation: bool
    # None: orientation only, no layout detection (`useLayoutDetection: false`).
    postprocess: PostprocessOptions | None


@dataclass(frozen=True)
class LayoutResult:
    # Clockwise rotation found and undone before detection; None when orientation was not classified.
    angle: int | None
    # The page turned upright when the angle was not 0 (sent back only then); None: the page as sent is upright.
    upright: np.ndarray | None
    # Every box after §5.3 post-processing, in reading order: what `layout_det_res` reports.
    boxes: list[LayoutBox]
    # The boxes that become blocks (the §5.4 step-1 overlap filter), in the same order.
    regions: list[LayoutBox]


NO_LAYOUT = LayoutResult(angle=None, upright=None, boxes=[], regions=[])


def empty_page_layout(classify_orientation: bool) -> LayoutResult:
    """What the stage finds on a page without ink, so such a page need not visit it: nothing, and upright."""
    return LayoutResult(angle=0 if classify_orientation else None, upright=None, boxes=[], regions=[])


class LayoutEngine:
    """The stage's work on one process's models; the Ray deployment and the direct benchmark both use it."""

    def __init__(self, config: LayoutConfig) -> None:
        threads = config.threads_per_replica
        self.backend = load_backend(LAYOUT_BACKENDS, LayoutBackend, config.backend, config.backend_options, threads)
        self.orientation = load_backend(
            ORIENTATION_BACKENDS, OrientationBackend, config.orientation_backend, config.orientation_options, threads
        )

    def run(self, pages: Sequence[np.ndarray], requests: Sequence[LayoutRequest]) -> list[LayoutResult]:
        angles = [self.orientation.classify(p) if r.classify_orientation else None for p, r in zip(pages, requests)]
        upright = [rotate_page(p, a) if a else p for p, a in zip(pages, angles)]
        to_detect = [i for i, r in enumerate(requests) if r.postprocess is not None]
        detections = dict(zip(to_detect, self.backend.detect([upright[i] for i in to_detect])))
        results = []
        for i, (page, request) in enumerate(zip(upright, requests)):
            boxes: list[LayoutBox] = []
            regions: list[LayoutBox] = []
            if request.postprocess is not None:
                size = (page.shape[1], page.shape[0])
                found = detections[i] if self.backend.has_reading_order else assign_reading_order(detections[i], size)
                boxes = postprocess_detections(found, size, request.postprocess)
                regions = filter_overlaps(boxes)
            results.append(LayoutResult(angles[i], page if angles[i] else None, boxes, regions))
        return results


@serve.deployment(name="LayoutStage")
class LayoutStage:
    """Batches pages of many requests (`@serve.batch`) into one model call."""

    def __init__(self, config: dict) -> None:
        cfg = LayoutConfig.model_validate(config)
        self._engine = LayoutEngine(cfg)
        self._metrics = LayoutMetrics()
        self._in_flight = 0
        self._running = 0
        # One inference at a time per replica: the ONNX session already uses `threads_per_replica` cores, and
        # queued pages wait here rather than fighting over them.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="layout")
        self._detect_batch.set_max_batch_size(cfg.batch.max_batch_size)
        self._detect_batch.set_batch_wait_timeout_s(cfg.batch.batch_wait_timeout_s)

    async def detect(self, page: np.ndarray, request: LayoutRequest) -> LayoutResult:
        self._count(in_flight=+1)
        try:
            return await self._detect_batch(page, request)
        finally:
            self._count(in_flight=-1)

    @serve.batch
    async def _detect_batch(self, pages: list[np.ndarray], requests: list[LayoutRequest]) -> list[LayoutResult]:
        self._metrics.batch_size.observe(len(pages))
        self._count(running=+len(pages))
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._engine.run, pages, requests)
        finally:
            self._count(running=-len(pages))

    def _count(self, in_flight: int = 0, running: int = 0) -> None:
        # Waiting is derived, not counted: a page cancelled while it waits never reaches a batch.
        self._in_flight += in_flight
        self._running += running
        self._metrics.in_flight.set(self._in_flight, stage=LAYOUT)
        self._metrics.waiting.set(max(self._in_flight - self._running, 0))

    def check_health(self) -> None:
        """Models load in __init__; a replica that constructed is ready."""
