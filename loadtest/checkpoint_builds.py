"""Building a checkpoint directory for tests and benchmarks: once, atomically, and only when its recipe changed.

A build writes into a temporary sibling and is swapped in whole, so a reader never sees a half-written
checkpoint; a manifest records the recipe and every file's digest, so an unchanged build is left alone;
concurrent builders of one directory (pytest-xdist workers, a service and a test) are serialised by a lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

MANIFEST = "tiny_model_manifest.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_built(directory: Path, recipe: dict) -> bool:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("recipe") != recipe:
        return False
    files = manifest.get("files") or {}
    try:
        return bool(files) and all(_sha256(directory / name) == digest for name, digest in files.items())
    except OSError:
        return False


def _write_manifest(out: Path, recipe: dict) -> None:
    files = {
        str(p.relative_to(out)): _sha256(p) for p in sorted(out.rglob("*")) if p.is_file() and p.name != MANIFEST
    }
    (out / MANIFEST).write_text(json.dumps({"recipe": recipe, "files": files}, indent=1, sort_keys=True) + "\n")


@contextlib.contextmanager
def _lock(directory: Path) -> Iterator[None]:
    import fcntl

    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f".{directory.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hides transformers' progress bars and its expected warnings (e.g. that the default rope type does
    not know ``mrope_section``, which the PaddleOCR-VL code reads all the same) during a build."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def build_checkpoint(directory: Path, recipe: dict, write: Callable[[Path], None]) -> Path:
    """Runs ``write(tmp)`` in a temporary sibling of ``directory`` and swaps it in, unless ``directory``
    already holds a build of ``recipe`` with its files unchanged. Returns the absolute directory."""
    directory = Path(directory).absolute()
    if is_built(directory, recipe):
        return directory
    with _lock(directory):
        if is_built(directory, recipe):
            return directory
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            with _quiet_transformers():
                write(tmp)
            _write_manifest(tmp, recipe)
            tmp.chmod(0o755)  # mkdtemp makes it private; the checkpoint is read by other processes
            for path in tmp.iterdir():
                path.chmod(0o644)
            if directory.exists():
                old = directory.with_name(f".{directory.name}.old.{os.getpid()}")
                directory.rename(old)
                tmp.rename(directory)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return directory
