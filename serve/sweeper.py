"""Expired objects leave the result store: every ingress replica sweeps it now and then, so nothing grows without
bound even where the store itself has no lifecycle rule (a filesystem volume). Sweeps by several replicas overlap
harmlessly: deleting what another replica already deleted is a no-op."""

from __future__ import annotations

import asyncio
import logging

from serve.storage import ResultStore

logger = logging.getLogger("ocrvl")


class Sweeper:
    def __init__(self, store: ResultStore, interval_s: float) -> None:
        self._store = store
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        """Starts the sweep loop on the running event loop, once (again if it ever stopped)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                removed = await self._store.sweep_expired()
            except Exception:  # a store that is down now may be back at the next sweep
                logger.warning("sweeping expired results failed", exc_info=True)
                continue
            if removed:
                logger.info("swept %d expired result objects", removed)
