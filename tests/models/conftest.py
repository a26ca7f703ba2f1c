"""Layout models run through their production backends with tiny random checkpoints of the exact architectures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from serve.config import LayoutConfig


def tiny_layout_config(
    tmp_path_factory: pytest.TempPathFactory, backend: str, build: Callable[[Path], Path]
) -> LayoutConfig:
    """A layout config for `backend` with a tiny checkpoint made by `build` (loadtest/tiny_layout_models.py)."""
    pytest.importorskip("transformers")
    model = build(tmp_path_factory.mktemp("models") / backend)
    return LayoutConfig(backend=backend, backend_options={"model": str(model)})


@pytest.fixture(scope="session")
def publaynet_pages(eval_dir) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted((eval_dir / "publaynet_examples" / "images").glob("*.jpg"))[:2]]
