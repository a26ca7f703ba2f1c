"""Load shedding at the door: an ingress replica answers at most `limit` parse requests at once and turns the
rest away at once with 429 and `Retry-After`, before reading their bodies; while the service drains for
shutdown it turns every new one away with 503.

Without it, requests over capacity wait in Ray Serve's unbounded router queues, every client's latency grows
without bound, and a client cannot tell a slow service from a dead one. A clear "come back in a second" lets
clients retry elsewhere and lets the autoscaler see the pressure (requests are counted by Ray Serve too).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from serve.errors import send_error


class Admission:
    """Counts admitted requests; `refusal()` says why one more may not enter, or None and admits it."""

    def __init__(self, limit: int, retry_after_s: int) -> None:
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        # Set while the service shuts down: requests in flight finish, new ones go elsewhere.
        self.draining = False

    def refusal(self) -> tuple[int, str] | None:
        if self.draining:
            return 503, f"Shutting down; retry after {self.retry_after_s} s"
        if self.in_flight >= self.limit:
            return 429, f"Too many requests in flight ({self.limit}); retry after {self.retry_after_s} s"
        self.in_flight += 1
        return None

    def leave(self) -> None:
        self.in_flight -= 1


class AdmissionMiddleware:
    """ASGI middleware guarding `paths` with `admission`."""

    def __init__(self, app: ASGIApp, admission: Admission, paths: frozenset[str]) -> None:
        self.app = app
        self.admission = admission
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        admission = self.admission
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        refusal = admission.refusal()
        if refusal is not None:
            status, message = refusal
            await send_error(send, status, message, {"Retry-After": str(admission.retry_after_s)})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            admission.leave()
