"""The recognition stage: reads the regions of a page with the configured recognition backend."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ray import serve

from serve.backends import RECOGNITION_BACKENDS, load_backend
from serve.backends.base import PageRecognition, RecognitionBackend, RecognitionOptions, Region
from serve.config import RecognitionConfig
from serve.metrics import RECOGNITION, RecognitionMetrics


def load_recognition_backend(config: RecognitionConfig) -> RecognitionBackend:
    return load_backend(
        RECOGNITION_BACKENDS, RecognitionBackend, config.backend, config.backend_options, config.threads_per_replica
    )


@serve.deployment(name="RecognitionStage")
class RecognitionStage:
    def __init__(self, config: dict) -> None:
        self._backend = load_recognition_backend(RecognitionConfig.model_validate(config))
        self._metrics = RecognitionMetrics()

    async def recognize(
        self, page: np.ndarray, regions: Sequence[Region], options: RecognitionOptions
    ) -> PageRecognition:
        self._metrics.in_flight.add(+1, stage=RECOGNITION)
        try:
            recognized = await self._backend.recognize(page, regions, options)
        finally:
            self._metrics.in_flight.add(-1, stage=RECOGNITION)
        if recognized.usage is not None:
            self._metrics.read(recognized.usage)
        return recognized

    async def check_health(self) -> None:
        await self._backend.check_health()

    def __del__(self) -> None:
        # Ray Serve calls this when it stops the replica gracefully; vLLM's engine processes would outlive it.
        self._backend.shutdown()
