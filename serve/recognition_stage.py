"""The recognition stage: reads the regions of a page with the configured recognition backend."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from ray import serve

from serve.backends import RECOGNITION_BACKENDS, load_backend
from serve.backends.base import PageRecognition, RecognitionBackend, RecognitionOptions, Region
from serve.config import RecognitionConfig


def load_recognition_backend(config: RecognitionConfig) -> RecognitionBackend:
    return load_backend(
        RECOGNITION_BACKENDS, RecognitionBackend, config.backend, config.backend_options, config.threads_per_replica
    )


@serve.deployment(name="RecognitionStage")
class RecognitionStage:
    def __init__(self, config: dict) -> None:
        self._backend = load_recognition_backend(RecognitionConfig.model_validate(config))
        # One page at a time per replica (see LayoutStage); scale with replicas, not threads.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recognition")

    async def recognize(self, page: np.ndarray, regions: Sequence[Region], options: RecognitionOptions) -> PageRecognition:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._backend.recognize, page, regions, options)
