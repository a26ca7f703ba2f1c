"""Request classes: interactive work goes before bulk work in a stage's queue.

A synchronous call has a person or a program waiting on it; a job's pages, or those of a client that ingests in
bulk, have not. A burst of bulk pages must not stand between an interactive page and the model. Each stage replica
takes waiting pages by class first, then in arrival order (`PriorityGate`); a backend whose engine schedules many
requests at once (vLLM) gets the class as the engine's request priority instead.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

Priority = Literal["interactive", "batch"]
INTERACTIVE: Priority = "interactive"
BATCH: Priority = "batch"
# Lower goes first: vLLM's convention for request priorities too.
RANK: dict[Priority, int] = {INTERACTIVE: 0, BATCH: 1}


class PriorityGate:
    """At most `slots` holders at a time; waiters are let in by class, then in arrival order. A waiter that is
    cancelled (its client went away) leaves the queue, and a holder's slot passes to the next waiter."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(not future.done() for _, _, future in self._waiting)

    @asynccontextmanager
    async def turn(self, priority: Priority) -> AsyncIterator[None]:
        await self._enter(priority)
        try:
            yield
        finally:
            self._leave()

    async def _enter(self, priority: Priority) -> None:
        if self._free > 0 and not self.waiting:
            self._free -= 1
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (RANK[priority], next(self._arrivals), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # Let in at the moment it was cancelled: the slot it was handed goes on to the next waiter.
                self._leave()
            raise

    def _leave(self) -> None:
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)
                return
        self._free += 1
