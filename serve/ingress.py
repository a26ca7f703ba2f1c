"""HTTP ingress: a thin FastAPI layer over the pipeline, the stages reached through deployment handles.

No `from __future__ import annotations` here: FastAPI reads the route signatures at runtime through Ray's
class-based ingress wrapper, which cannot resolve string annotations.
"""


from collections.abc import Sequence

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from ray import serve
from ray.serve.handle import DeploymentHandle

from serve.backends import RECOGNITION_BACKENDS, backend_class
from serve.backends.base import PageRecognition, RecognitionOptions, Region
from serve.config import ServiceConfig
from serve.errors import install_error_handlers, new_log_id
from serve.layout_stage import LayoutRequest, LayoutResult
from serve.pipeline import DocumentPipeline, ParseOptions, load_file, unhonored_fields
from serve.protocol import Envelope, ErrorResponse, LayoutParsingRequest, LayoutParsingResponse

UNHONORED_HEADER = "X-Unhonored-Fields"

app = FastAPI(
    title="PaddleOCR-VL layout parsing",
    description="`POST /layout-parsing` as PaddleX 3.7.2's serving app defines it, served by Ray Serve.",
    version="0.1.0",
)
install_error_handlers(app)
ERROR_RESPONSES = {status: {"model": ErrorResponse} for status in (422, 500)}


class _HandleLayoutClient:
    def __init__(self, handle: DeploymentHandle) -> None:
        self._handle = handle

    async def detect(self, page: np.ndarray, request: LayoutRequest) -> LayoutResult:
        return await self._handle.detect.remote(page, request)


class _HandleRecognitionClient:
    def __init__(self, handle: DeploymentHandle) -> None:
        self._handle = handle

    async def recognize(
        self, page: np.ndarray, regions: Sequence[Region], options: RecognitionOptions
    ) -> PageRecognition:
        return await self._handle.recognize.remote(page, regions, options)


@serve.deployment(name="Ingress")
@serve.ingress(app)
class Ingress:
    def __init__(self, layout: DeploymentHandle, recognition: DeploymentHandle, config: dict) -> None:
        self._config = ServiceConfig.model_validate(config)
        self._capabilities = backend_class(RECOGNITION_BACKENDS, self._config.recognition.backend).capabilities
        self._pipeline = DocumentPipeline(
            self._config, _HandleLayoutClient(layout), _HandleRecognitionClient(recognition)
        )

    @app.post(
        "/layout-parsing",
        operation_id="infer",
        response_model=LayoutParsingResponse,
        responses=ERROR_RESPONSES,
    )
    async def infer(self, body: LayoutParsingRequest, request: Request) -> JSONResponse:
        log_id = body.logId or new_log_id()
        request.state.log_id = log_id
        options = ParseOptions.from_request(body, self._config, self._capabilities)
        data, name_hint = await load_file(body, self._config)
        result = await self._pipeline.parse(data, body.fileType, name_hint, options)
        unhonored = unhonored_fields(body, self._capabilities)
        headers = {UNHONORED_HEADER: ",".join(unhonored)} if unhonored else None
        content = {"logId": log_id, "errorCode": 0, "errorMsg": "Success", "result": result}
        return JSONResponse(content=content, headers=headers)

    @app.get("/health", operation_id="checkHealth", response_model=Envelope)
    async def health(self) -> dict:
        return {"logId": new_log_id(), "errorCode": 0, "errorMsg": "Healthy"}
