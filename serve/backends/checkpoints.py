"""Where a backend's model weights come from: a local checkpoint directory or a model-hub id."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

PROJECT_DIR = Path(__file__).resolve().parents[2]


def resolve_model(model: str) -> str:
    """A directory under the project wins over a hub id of the same spelling; replicas run in Ray's working
    directory, not the operator's, so relative paths need an anchor. Absolute paths and hub ids pass through."""
    local = PROJECT_DIR / model
    return str(local) if local.is_dir() else model


class TorchModelOptions(BaseModel):
    """Where a transformers model's weights are and where it runs."""

    model_config = ConfigDict(extra="forbid")

    # A checkpoint directory (relative paths are taken from the project directory) or a hub id.
    model: str
    device: str = "cpu"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"


def load_pretrained(auto_class: str, options: TorchModelOptions, threads: int) -> Any:
    """The model behind `options`, loaded with transformers' `auto_class` (e.g. "AutoModelForObjectDetection"),
    on its device, in eval mode; torch in this process gets `threads` inference threads."""
    import torch
    import transformers

    torch.set_num_threads(threads)
    loader = getattr(transformers, auto_class)
    model = loader.from_pretrained(resolve_model(options.model), dtype=getattr(torch, options.dtype))
    return model.to(options.device).eval()
