"""Debian programs the tests start (scripts/setup.sh installs them)."""

from __future__ import annotations

import os
import shutil

import pytest


def require_program(name: str) -> str:
    """The program's path; skips where it is not installed, but fails in CI, whose setup installs it."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} missing: scripts/setup.sh should have installed it")
        pytest.skip(f"no {name} (apt-get install {name})")
    return path
