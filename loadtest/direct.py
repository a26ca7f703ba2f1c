"""The embedded pipeline with its models called in this process: the benchmark's baseline.

It runs the very same `DocumentPipeline` as the service, with the two stages called directly instead of
through Ray Serve handles, so the comparison isolates what serving adds or gains.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from layout.text_layer import TextLayer
from serve.backends.base import PageRecognition, RecognitionBackend, RecognitionOptions, Region
from serve.config import ServiceConfig
from serve.layout_stage import LayoutEngine, LayoutRequest, LayoutResult
from serve.pipeline import DocumentPipeline
from serve.recognition_stage import load_recognition_backend, recognize_page


class DirectLayout:
    def __init__(self, engine: LayoutEngine) -> None:
        self._engine = engine

    async def detect(self, page: np.ndarray, request: LayoutRequest) -> LayoutResult:
        return self._engine.run([page], [request])[0]


class DirectRecognition:
    def __init__(self, backend: RecognitionBackend) -> None:
        self._backend = backend

    async def recognize(
        self, page: np.ndarray, regions: Sequence[Region], options: RecognitionOptions, layer: TextLayer | None
    ) -> PageRecognition:
        return await recognize_page(self._backend, page, regions, options, layer)


def direct_pipeline(config: ServiceConfig) -> tuple[DocumentPipeline, RecognitionBackend]:
    """A single-process pipeline: one layout engine and one recognition backend, each on one thread, called
    one page at a time (the benchmark sends one page after another, so nothing overlaps)."""
    backend = load_recognition_backend(config.recognition)
    return DocumentPipeline(config, DirectLayout(LayoutEngine(config.layout)), DirectRecognition(backend)), backend
