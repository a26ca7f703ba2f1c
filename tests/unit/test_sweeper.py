"""The ingress's sweep loop removes expired results, and a failing sweep does not end it."""

from __future__ import annotations

import asyncio

from serve.storage.filesystem import FilesystemStore
from serve.sweeper import Sweeper

INTERVAL_S = 0.05


class FlakyStore(FilesystemStore):
    """Fails its first sweep, as a store that is briefly down does."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sweeps = 0

    async def sweep_expired(self) -> int:
        self.sweeps += 1
        if self.sweeps == 1:
            raise OSError("store down")
        return await super().sweep_expired()


async def _wait_until_no_files(store: FilesystemStore, timeout_s: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if not any(store.root.rglob("*.jpg")):
            return True
        await asyncio.sleep(INTERVAL_S)
    return False


def test_expired_objects_are_swept_even_after_a_failed_sweep(tmp_path):
    async def run() -> tuple[bool, int]:
        store = FlakyStore(tmp_path, ttl_s=1)
        await store.put("log/page.jpg", b"jpeg", "image/jpeg", 1)
        sweeper = Sweeper(store, INTERVAL_S)
        sweeper.ensure_running()
        sweeper.ensure_running()  # a second call does not start a second loop
        assert any(store.root.rglob("*.jpg"))
        gone = await _wait_until_no_files(store, timeout_s=5)
        return gone, store.sweeps

    gone, sweeps = asyncio.run(run())
    assert gone and sweeps >= 2
