"""The application builder named by config files: `import_path: serve.app:build_app`."""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from serve.config import ServiceConfig
from serve.ingress import Ingress
from serve.layout_stage import LayoutStage
from serve.recognition_stage import RecognitionStage


def build_app(args: dict[str, Any]) -> Application:
    """`args` is the config file's application `args`, validated here so a bad file fails the deploy loudly."""
    config = ServiceConfig.model_validate(args)
    layout = LayoutStage.bind(config.layout.model_dump())
    recognition = RecognitionStage.bind(config.recognition.model_dump())
    return Ingress.bind(layout, recognition, config.model_dump())
