"""A real redis-server (Debian's package) on a Unix socket, for the quota and job tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from serve.local_redis import LocalRedis


def require_redis_server() -> str:
    """The redis-server binary; skips where it is not installed, but fails in CI, whose setup installs it."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server missing: scripts/setup.sh should have installed it")
        pytest.skip("no redis-server (apt-get install redis-server)")
    return binary


@contextmanager
def running_redis(workdir: Path) -> Iterator[str]:
    """Starts a throwaway redis-server (no persistence) and yields its URL; stops it on exit."""
    require_redis_server()
    with LocalRedis(workdir, persistent=False) as url:
        yield url
