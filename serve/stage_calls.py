"""The ingress's calls into the stage deployments: timed, cancelled with their caller, and retried on another
replica when the one working on the page died.

A page is idempotent work, so a replica lost mid-page (a crash, an OOM kill, a node gone) costs a retry, not the
request. What cannot be retried becomes `StageUnavailable`, a 503 with Retry-After: the service is degraded for
the moment, not broken, and the client's next try will find the replacement replica.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from ray import ObjectRef
from ray.exceptions import RayActorError
from ray.serve.handle import DeploymentHandle, DeploymentResponse

from layout.text_layer import TextLayer
from serve.backends.base import BackendUnavailable, PageRecognition, RecognitionOptions, Region
from serve.errors import StageUnavailable
from serve.layout_stage import LayoutRequest, LayoutResult
from serve.metrics import LAYOUT, RECOGNITION, IngressMetrics

logger = logging.getLogger("ocrvl.stages")


async def _cancelled_with_caller(response: DeploymentResponse) -> Any:
    """Awaits a stage call and cancels it in the replica if the awaiting task is cancelled (a deadline). Ray Serve
    does that by itself only when the whole HTTP request is cancelled (client gone)."""
    try:
        return await response
    except asyncio.CancelledError:
        response.cancel()
        raise


class StageCaller:
    """Makes one stage's calls. `RayActorError` covers a replica that died or became unreachable during the call;
    Ray Serve's router then stops sending to it, so the retry lands on a live or replacement replica."""

    def __init__(self, stage: str, retries: int, metrics: IngressMetrics) -> None:
        self._stage = stage
        self._retries = retries
        self._metrics = metrics

    async def __call__(self, call: Callable[[], DeploymentResponse]) -> Any:
        attempt = 0
        while True:
            try:
                with self._metrics.timed_stage(self._stage):
                    return await _cancelled_with_caller(call())
            except BackendUnavailable as exc:
                # The replica is alive but its engine or server is not; a retry would likely meet the same one.
                # Raised in the replica, it arrives wrapped in Ray's RayTaskError, whose text is the remote
                # traceback: the client is told the backend's own message.
                reason = getattr(exc, "cause", None) or exc
                raise StageUnavailable(f"The {self._stage} stage is unavailable: {reason}; retry later") from exc
            except RayActorError as exc:
                if attempt >= self._retries:
                    raise StageUnavailable(f"A {self._stage} replica failed; retry later") from exc
                attempt += 1
                self._metrics.stage_retries.inc(tags={"stage": self._stage})
                logger.warning("%s replica failed (%s); retrying the page (%d of %d)",
                               self._stage, type(exc).__name__, attempt, self._retries)


class HandleLayoutClient:
    def __init__(self, handle: DeploymentHandle, retries: int, metrics: IngressMetrics) -> None:
        self._handle = handle
        self._call = StageCaller(LAYOUT, retries, metrics)

    async def detect(self, page: np.ndarray | ObjectRef, request: LayoutRequest) -> LayoutResult:
        return await self._call(lambda: self._handle.detect.remote(page, request))


class HandleRecognitionClient:
    def __init__(self, handle: DeploymentHandle, retries: int, metrics: IngressMetrics) -> None:
        self._handle = handle
        self._call = StageCaller(RECOGNITION, retries, metrics)

    async def recognize(
        self, page: np.ndarray | ObjectRef, regions: Sequence[Region], options: RecognitionOptions,
        layer: TextLayer | None,
    ) -> PageRecognition:
        return await self._call(lambda: self._handle.recognize.remote(page, regions, options, layer))
