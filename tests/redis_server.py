"""A real redis-server (Debian's package) on a free loopback port, for the quota tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from serve.cli import free_port

START_TIMEOUT_S = 10


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
    port = free_port()
    process = subprocess.Popen(
        [require_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=START_TIMEOUT_S)
