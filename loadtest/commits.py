"""Another commit of this repository, served beside this tree: for benchmarks and comparisons that must run the
two side by side on the same machine state."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from loadtest.service import REPO


@contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """`rev` checked out into a temporary worktree, removed afterwards."""
    with tempfile.TemporaryDirectory() as parent:
        path = Path(parent) / "base"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), rev], check=True,
                       capture_output=True)
        try:
            # The base serves the same model files: the tiny checkpoints live under var/.
            (path / "var").symlink_to(REPO / "var")
            yield path
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], check=True)


def _harness(tree: Path) -> ModuleType:
    """The tree's own `loadtest/service.py`, which starts the server from the tree's directory."""
    spec = importlib.util.spec_from_file_location("base_service", tree / "loadtest" / "service.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def served_from(tree: Path, workdir: Path, config: Path) -> Iterator[str]:
    """`ocrvl serve` of `tree` (the same venv, the tree's modules first on PYTHONPATH, which Ray's workers
    inherit) with the tree's copy of `config` (a path relative to the repository); yields its base URL."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(tree), before or ""])
    try:
        with _harness(tree).running_service(workdir, tree / config) as url:
            yield url
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before
