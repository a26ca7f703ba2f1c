"""A cap on the request body, enforced while it arrives: 413 in the envelope, and memory never holds more.

FastAPI reads and parses the whole JSON body before any route runs, so without this a client could make an
ingress replica buffer gigabytes. A declared `Content-Length` over the cap is refused before a byte is read;
a chunked body is counted as it streams and cut off as soon as it passes the cap.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve.errors import send_error

TOO_LARGE = 413


def too_large_message(limit: int) -> str:
    return f"Request body exceeds {limit} bytes"


class BodyLimitMiddleware:
    """Refuses request bodies over `limit` bytes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_error(send, TOO_LARGE, too_large_message(limit))
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                # Raised inside the app's body read, so its error handlers answer it in the envelope.
                raise HTTPException(TOO_LARGE, too_large_message(limit))
            return message

        await self.app(scope, counting_receive, send)
