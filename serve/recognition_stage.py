"""The recognition stage: reads the regions of a page with the configured recognition backend."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import nullcontext

import numpy as np
from ray import serve

from layout.ink import ink_mask
from layout.text_layer import LayerReading, TextLayer, read_regions
from serve.backends import RECOGNITION_BACKENDS, load_backend
from serve.backends.base import PageRecognition, RecognitionBackend, RecognitionOptions, Region
from serve.config import RecognitionConfig
from serve.metrics import RECOGNITION, RecognitionMetrics
from serve.priority import PriorityGate


def load_recognition_backend(config: RecognitionConfig) -> RecognitionBackend:
    return load_backend(
        RECOGNITION_BACKENDS, RecognitionBackend, config.backend, config.backend_options, config.threads_per_replica
    )


def layer_reading(
    page: np.ndarray, regions: Sequence[Region], options: RecognitionOptions, layer: TextLayer | None
) -> LayerReading | None:
    """What the page's text layer can answer for, per `options.text_layer`; None: the engine reads everything."""
    if layer is None or options.text_layer == "off" or (layer.empty and options.text_layer == "auto"):
        return None
    # `only` takes the layer at its word; `auto` checks it against the page's ink.
    ink = ink_mask(page) if options.text_layer == "auto" else None
    return read_regions(layer, [region.bbox for region in regions], ink)


async def recognize_page(
    backend: RecognitionBackend, page: np.ndarray, regions: Sequence[Region], options: RecognitionOptions,
    layer: TextLayer | None,
) -> PageRecognition:
    # Most pages are images with no layer: no need for a thread hop to find that out.
    reading = None if layer is None else await asyncio.to_thread(layer_reading, page, regions, options, layer)
    return await backend.recognize(page, regions, options, reading)


@serve.deployment(name="RecognitionStage")
class RecognitionStage:
    def __init__(self, config: dict) -> None:
        self._backend = load_recognition_backend(RecognitionConfig.model_validate(config))
        self._metrics = RecognitionMetrics()
        at_once = self._backend.capabilities.pages_at_once
        self._gate = None if at_once is None else PriorityGate(at_once)

    async def recognize(
        self, page: np.ndarray, regions: Sequence[Region], options: RecognitionOptions, layer: TextLayer | None = None
    ) -> PageRecognition:
        self._metrics.in_flight.add(+1, stage=RECOGNITION)
        try:
            async with self._gate.turn(options.priority) if self._gate is not None else nullcontext():
                recognized = await recognize_page(self._backend, page, regions, options, layer)
        finally:
            self._metrics.in_flight.add(-1, stage=RECOGNITION)
        self._metrics.read(recognized)
        return recognized

    async def check_health(self) -> None:
        await self._backend.check_health()

    def __del__(self) -> None:
        # Ray Serve calls this when it stops the replica gracefully; vLLM's engine processes would outlive it.
        self._backend.shutdown()
