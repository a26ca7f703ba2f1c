"""Live progress of a load-test point on stderr: one line redrawn in place on a terminal, a new line every few
seconds otherwise (a CI log or a file must not fill with carriage returns)."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TextIO

from loadtest.stats import Sample, percentile

TERMINAL_INTERVAL_S = 0.5
LOG_INTERVAL_S = 10.0
# The latency shown is of the most recent answers, so a trend shows while it happens.
RECENT = 200


class Progress:
    def __init__(self, label: str, duration_s: float, max_requests: int, stream: TextIO = sys.stderr) -> None:
        self.label = label
        self.duration_s = duration_s
        self.max_requests = max_requests
        self.stream = stream
        self.live = stream.isatty()
        self.sent = 0
        self.ok = 0
        self.failed = 0
        self._recent: list[float] = []
        self._started = time.perf_counter()

    def on_sent(self) -> None:
        self.sent += 1

    def on_answer(self, sample: Sample) -> None:
        if sample.ok:
            self.ok += 1
            self._recent = [*self._recent[-(RECENT - 1):], sample.latency_s]
        else:
            self.failed += 1

    def line(self) -> str:
        elapsed = time.perf_counter() - self._started
        rate = self.ok / elapsed if elapsed > 0 else 0.0
        p50 = f"{percentile(self._recent, 50):.2f}s" if self._recent else "-"
        bound = f"/{self.duration_s:.0f}s" if self.duration_s != float("inf") else "s"
        return (f"{self.label}  {elapsed:5.0f}{bound}  sent {self.sent}/{self.max_requests}  ok {self.ok}  "
                f"errors {self.failed}  in flight {self.sent - self.ok - self.failed}  {rate:.2f} req/s  p50 {p50}")

    async def show(self) -> None:
        """Redraws until cancelled."""
        interval = TERMINAL_INTERVAL_S if self.live else LOG_INTERVAL_S
        while True:
            await asyncio.sleep(interval)
            self._write()

    def done(self) -> None:
        self._write()
        if self.live:
            self.stream.write("\n")
        self.stream.flush()

    def _write(self) -> None:
        if self.live:
            self.stream.write("\r\033[K" + self.line())
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()
