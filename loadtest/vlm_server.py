"""Starting a vLLM OpenAI-compatible server for the tiny PaddleOCR-VL, for tests and benchmarks.

The flags are the ones the external backend needs (`--trust-request-mm-kwargs`: PaddleX's client and ours send
per-request pixel bounds) plus the CPU sizing of `configs/vl-cpu-tiny.yaml`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loadtest.service import RAY_WORKER_NICENESS, running_process
from serve.cli import free_port

SERVED_MODEL_NAME = "PaddleOCR-VL-0.9B"
KV_CACHE_BYTES = 256 * 2**20
MAX_MODEL_LEN = 4096


@contextmanager
def running_vllm_server(model: Path, workdir: Path, port: int | None = None) -> Iterator[str]:
    """Runs `vllm.entrypoints.openai.api_server` on `model`, yields its `/v1` base URL, stops it on exit."""
    port = port or free_port()
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
               "--served-model-name", SERVED_MODEL_NAME, "--host", "127.0.0.1", "--port", str(port),
               "--max-model-len", str(MAX_MODEL_LEN), "--kv-cache-memory-bytes", str(KV_CACHE_BYTES),
               "--enforce-eager", "--trust-request-mm-kwargs",
               # Request classes reach the engine as request priorities (openai_vl's send_priority).
               "--scheduling-policy", "priority"]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "VLLM_CPU_OMP_THREADS_BIND": "0"}
    with running_process(command, f"{url}/health", workdir / "vllm-server.log", niceness=RAY_WORKER_NICENESS,
                         cpus={0}, env=env):
        yield f"{url}/v1"
