"""PaddleX 3.7.2 (the reference implementation) as a test oracle, in its own venv and process."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
REFERENCE_PYTHON = REPO / "var" / "refvenv" / "bin" / "python"
WORKER = Path(__file__).with_name("paddlex_worker.py")


class PaddleX:
    """Calls PaddleX functions by name in the worker process."""

    def __init__(self, process: subprocess.Popen) -> None:
        self._process = process

    def __call__(self, fn: str, **args: Any) -> Any:
        self._process.stdin.write(json.dumps({"fn": fn, "args": args}) + "\n")
        self._process.stdin.flush()
        answer = json.loads(self._process.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"PaddleX {fn} failed: {answer['error']}")
        return answer["result"]


def require_reference_venv() -> Path:
    """The reference venv's Python; skips the test where it was not built, but fails in CI, which builds it."""
    if not REFERENCE_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{REFERENCE_PYTHON} missing: scripts/setup_reference.sh should have built it")
        pytest.skip("no PaddleX reference venv (bash scripts/setup_reference.sh)")
    return REFERENCE_PYTHON


@pytest.fixture(scope="session")
def paddlex() -> Iterator[PaddleX]:
    require_reference_venv()
    process = subprocess.Popen(
        [str(REFERENCE_PYTHON), str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK": "True"},
    )
    assert process.stdout.readline().strip() == "ready"
    yield PaddleX(process)
    process.stdin.close()
    process.wait(timeout=30)
