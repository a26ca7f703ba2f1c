"""A real redis-server (Debian's package) on a Unix socket, for the quota and job tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from serve.local_redis import LocalRedis
from tests.programs import require_program


@contextmanager
def running_redis(workdir: Path) -> Iterator[str]:
    """Starts a throwaway redis-server (no persistence) and yields its URL; stops it on exit."""
    require_program("redis-server")
    with LocalRedis(workdir, persistent=False) as url:
        yield url
