"""Layout pages/s on CPU: the embedded CDLA PicoDet vs PP-DocLayoutV2's architecture, batch 1 vs 8.

    .venv/bin/python -m loadtest.bench layout

PP-DocLayoutV2 runs twice: the tiny random checkpoint the tests use, and the published size with random weights
(transformers' default config, built into var/models on first use, ~210 MB), which costs what the real model
costs. Every backend is called the way the layout stage calls it (`LayoutBackend.detect` on a list of pages)
on the same eight real pages, one after another in one run, each after a warm-up call.
"""

from __future__ import annotations

import time

import cv2

from loadtest.bench import benchmark_parser
from loadtest.service import REPO
from loadtest.table import Column, format_table
from loadtest.tiny_layout_models import build_full_size_pp_doclayout_v2, build_tiny_pp_doclayout_v2
from serve.backends import LAYOUT_BACKENDS, load_backend
from serve.backends.base import LayoutBackend

EVAL = REPO.parent / "shared" / "eval"
MODELS = REPO / "var" / "models"


def pages() -> list:
    return [cv2.imread(str(p)) for p in sorted((EVAL / "publaynet_examples" / "images").glob("*.jpg"))[:8]]


def pages_per_s(backend: LayoutBackend, images: list, batch: int) -> float:
    backend.detect(images[:batch])  # warm-up
    started = time.perf_counter()
    for start in range(0, len(images), batch):
        backend.detect(images[start : start + batch])
    return len(images) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__name__, __doc__)
    parser.add_argument("--threads", type=int, default=2, help="inference threads per backend")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args(argv)
    candidates = {
        "rapid_cdla (embedded)": ("rapid_cdla", {}),
        "pp_doclayout_v2, tiny": (
            "pp_doclayout_v2", {"model": str(build_tiny_pp_doclayout_v2(MODELS / "tiny-pp-doclayout-v2"))}),
        "pp_doclayout_v2, full size": (
            "pp_doclayout_v2", {"model": str(build_full_size_pp_doclayout_v2(MODELS / "random-pp-doclayout-v2"))}),
    }
    images = pages()
    rates: dict[str, list[float]] = {}
    for name, (backend_name, options) in candidates.items():
        backend = load_backend(LAYOUT_BACKENDS, LayoutBackend, backend_name, options, args.threads)
        rates[name] = [pages_per_s(backend, images, batch) for batch in args.batches]
    embedded = next(iter(rates.values()))[0]
    columns = [Column("model", align="<"), *(Column(f"batch {b} pages/s", "{:.2f}") for b in args.batches),
               Column(f"vs embedded @{args.batches[0]}", "{:.2f}x")]
    print(format_table(columns, [(name, *rate, rate[0] / embedded) for name, rate in rates.items()]))
    return 0

