from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from serve.storage import base
from serve.storage.base import ResultStore
from serve.storage.filesystem import FilesystemStore

TTL_S = 60
PutExpired = Callable[[ResultStore, str], Awaitable[None]]


class _ShiftedClock:
    """Stands in for the `time` module in serve/storage/base.py, so objects are put with an expiry in the past."""

    def __init__(self, offset_s: float) -> None:
        self.offset_s = offset_s

    def time(self) -> float:
        return time.time() + self.offset_s


@pytest.fixture
def fs_store(tmp_path: Path) -> FilesystemStore:
    """A store on a fresh root with the generated signing key (no configured source)."""
    return FilesystemStore(tmp_path / "results", TTL_S, signing_key_env=None)


@pytest.fixture
def put_expired(monkeypatch: pytest.MonkeyPatch) -> PutExpired:
    """Puts an object (JPEG bytes b"old") that expired a ttl ago, as if it had been put two ttls ago."""

    async def put(store: ResultStore, key: str) -> None:
        with monkeypatch.context() as patch:
            patch.setattr(base, "time", _ShiftedClock(-2 * store.ttl_s))
            await store.put(key, b"old", "image/jpeg", store.ttl_s)

    return put
