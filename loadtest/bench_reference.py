"""One page through the VLM: this service vs the reference server (PaddleX's) vs the bare vLLM server.

    bash scripts/setup_reference.sh          # PaddleX 3.7.2 in var/refvenv (the test setup does it too)
    .venv/bin/python -m loadtest.bench reference

The reference server is PaddleX 3.7.2 `paddlex --serve` with its PaddleOCR-VL pipeline; both servers send their
VLM requests to the same bare vLLM server.

One vLLM OpenAI server hosts the tiny PaddleOCR-VL. The reference server runs the shipped PaddleOCR-VL pipeline
config with layout detection off and its `vllm-server` backend pointed at that server (the only way it runs
without downloading models, ../shared/notes/reference-server.md); ours runs configs/vl-external.yaml pointed at
the same server. Every request is the same one-page PNG with `useLayoutDetection: false`, `promptLabel: ocr`;
the bare server gets the chat request our backend makes of that page. The three are measured one after
another at each concurrency, in one run.
"""

from __future__ import annotations

import base64
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import cv2
import numpy as np
import yaml

from loadtest.bench import benchmark_parser
from loadtest.runs import Run, plot_runs, post_closed_loop
from loadtest.service import RAY_WORKER_NICENESS, REPO, running_process, running_service
from loadtest.table import Column, format_table
from loadtest.tiny_models import build_tiny_paddleocr_vl
from loadtest.vlm_server import SERVED_MODEL_NAME, running_vllm_server
from serve.backends.base import RecognitionOptions, Region
from serve.backends.openai_vl import OpenAiVl
from serve.backends.vl_common import plan_calls
from serve.cli import free_port

EVAL = REPO.parent / "shared" / "eval"
TINY_MODEL_DIR = REPO / "var" / "models" / "tiny-paddleocr-vl"
REFERENCE_VENV = REPO / "var" / "refvenv"
OUR_CONFIG = REPO / "configs" / "vl-external.yaml"
# An A4 page at 150 dpi, the size the reference was measured with (../shared/notes/reference-server.md).
PAGE_SIZE = (1241, 1754)
MAX_NEW_TOKENS = 96
MODES = ("reference", "service", "bare vLLM server")


def page_png() -> bytes:
    path = sorted((EVAL / "publaynet_examples" / "images").glob("*.jpg"))[0]
    page = cv2.resize(cv2.imread(str(path)), PAGE_SIZE, interpolation=cv2.INTER_CUBIC)
    return cv2.imencode(".png", page)[1].tobytes()


def bare_request(png: bytes) -> dict:
    """The chat-completion body our external backend sends for this page (prompt, resized image, sampling)."""
    page = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    options = RecognitionOptions(prompt_label="ocr", max_new_tokens=MAX_NEW_TOKENS)
    [call] = plan_calls(page, [Region("ocr", (0, 0, PAGE_SIZE[0], PAGE_SIZE[1]))], options).calls
    return OpenAiVl({"base_url": "unused", "model_name": SERVED_MODEL_NAME}, threads=1).request_body(call, options)


def reference_pipeline_config(venv: Path, vlm_url: str, workdir: Path) -> Path:
    """The package's own PaddleOCR-VL.yaml with layout detection off and the VLM on `vlm_url`."""
    [shipped] = venv.glob("lib/python3*/site-packages/paddlex/configs/pipelines/PaddleOCR-VL.yaml")
    config = yaml.safe_load(shipped.read_text())
    config["use_layout_detection"] = False
    config["SubModules"]["VLRecognition"]["genai_config"] = {"backend": "vllm-server", "server_url": vlm_url}
    path = workdir / "PaddleOCR-VL.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def running_reference(venv: Path, vlm_url: str, workdir: Path) -> Iterator[str]:
    """Runs `paddlex --serve` offline (no model-source check: it loads no model of its own) and yields its URL."""
    url = f"http://127.0.0.1:{free_port()}"
    pipeline = reference_pipeline_config(venv, vlm_url, workdir)
    command = [str(venv / "bin" / "paddlex"), "--serve", "--pipeline", str(pipeline),
               "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1]]
    env = {**os.environ, "PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK": "True"}
    with running_process(command, f"{url}/health", workdir / "reference.log", niceness=RAY_WORKER_NICENESS, env=env):
        yield url


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__name__, __doc__)
    parser.add_argument("--requests", type=int, default=32, help="requests per measured point")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--reference-venv", type=Path, default=REFERENCE_VENV)
    parser.add_argument("--figure", type=Path, default=REPO / "docs" / "figures" / "bench-reference.png")
    args = parser.parse_args(argv)
    if not (args.reference_venv / "bin" / "paddlex").exists():
        print(f"no PaddleX in {args.reference_venv}: run bash scripts/setup_reference.sh", file=sys.stderr)
        return 2

    png = page_png()
    payload = {"file": base64.b64encode(png).decode(), "fileType": 1, "useLayoutDetection": False,
               "promptLabel": "ocr", "maxNewTokens": MAX_NEW_TOKENS, "visualize": False}
    build_tiny_paddleocr_vl(TINY_MODEL_DIR)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        vlm_url = stack.enter_context(running_vllm_server(TINY_MODEL_DIR, workdir))
        reference = stack.enter_context(running_reference(args.reference_venv, vlm_url, workdir))
        ours = stack.enter_context(running_service(
            workdir, OUR_CONFIG, args_overrides={"recognition": {"backend_options": {"base_url": vlm_url}}}))
        targets = {
            "reference": (f"{reference}/layout-parsing", payload),
            "service": (f"{ours}/layout-parsing", payload),
            "bare vLLM server": (f"{vlm_url}/chat/completions", bare_request(png)),
        }
        for concurrency in args.concurrency:
            for mode in MODES:
                url, body = targets[mode]
                runs.append(post_closed_loop(mode, url, [body] * args.requests, concurrency, warm_up=concurrency))
    print(table(runs))
    plot_runs(runs, args.figure, "One page through the VLM: ours vs PaddleX's server vs the bare vLLM server")
    return 0


def table(runs: list[Run]) -> str:
    by_point = {(r.mode, r.concurrency): r for r in runs}
    columns = [Column("mode", align="<"), Column("concurrent"), Column("requests"), Column("req/s", "{:.2f}"),
               Column("p50 s", "{:.3f}"), Column("vs reference", "{:.2f}x"), Column("vs bare", "{:.2f}x")]
    rows = [(run.mode, run.concurrency, len(run.latencies), run.per_s, statistics.median(run.latencies),
             run.per_s / by_point[("reference", run.concurrency)].per_s,
             run.per_s / by_point[("bare vLLM server", run.concurrency)].per_s) for run in runs]
    return format_table(columns, rows)

