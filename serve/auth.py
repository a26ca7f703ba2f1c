"""API keys: `Authorization: token <KEY>` (what PaddleOCR's client sends) or `Bearer <KEY>`.

Keys come from an environment variable or a mounted secret file, never from the config itself, as lines or
comma-separated items of `client-id:key` (a bare key gets an id derived from its hash). The id names the client
in quotas and logs; the key itself is kept only as a SHA-256 digest and never logged. Every presented key is
compared with every known digest in constant time, so response timing tells nothing about how much of a key was
right.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from serve.errors import send_error

SCHEMES = ("token", "bearer")
# Where an authenticated request's client id is left for later stages (quotas), in Starlette's request.state.
CLIENT_ID = "client_id"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ocrvl"'}


class KeyConfigError(ValueError):
    """The configured keys cannot be loaded; the replica must not start without them."""


@dataclass(frozen=True)
class ApiKeys:
    digests: tuple[tuple[str, bytes], ...]  # (client id, SHA-256 of the key)

    @classmethod
    def parse(cls, text: str) -> ApiKeys:
        entries = []
        for item in text.replace(",", "\n").splitlines():
            item = item.strip()
            if not item or item.startswith("#"):
                continue
            client, _, key = item.rpartition(":")
            if not key:
                raise KeyConfigError("an API key entry is empty")
            digest = hashlib.sha256(key.encode()).digest()
            entries.append((client or f"key-{digest.hex()[:8]}", digest))
        return cls(tuple(entries))

    @classmethod
    def load(cls, env_var: str | None, file: str | None) -> ApiKeys:
        sources = []
        if env_var and os.environ.get(env_var):
            sources.append(os.environ[env_var])
        if file:
            try:
                sources.append(Path(file).read_text())
            except OSError as exc:
                raise KeyConfigError(f"cannot read the API key file {file}: {exc.strerror}") from exc
        keys = cls.parse("\n".join(sources))
        if not keys.digests:
            raise KeyConfigError(f"auth is enabled but no API keys were found (env {env_var}, file {file})")
        return keys

    def client_of(self, key: str) -> str | None:
        presented = hashlib.sha256(key.encode()).digest()
        found = None
        for client, digest in self.digests:
            # No early exit: every key is compared, whichever matches.
            if hmac.compare_digest(presented, digest):
                found = client
        return found


def presented_key(authorization: str | None) -> str | None:
    """The key of an `Authorization: token KEY` or `Bearer KEY` header; None when absent or malformed."""
    if not authorization:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    return key if scheme.lower() in SCHEMES and key else None


class AuthMiddleware:
    """Refuses requests outside `public_paths` without a known key: 401 (no usable credentials, with a
    `WWW-Authenticate` challenge) or 403 (a key this server does not know), in the envelope. Installed only
    when auth is on (serve/http_app.py), and always with the keys."""

    def __init__(self, app: ASGIApp, keys: ApiKeys, public_paths: Container[str]) -> None:
        self.app = app
        self.keys = keys
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        keys = self.keys
        if scope["type"] != "http" or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        key = presented_key(headers.get(b"authorization", b"").decode("latin-1"))
        if key is None:
            await send_error(send, 401, "Missing API key: send 'Authorization: token <key>' or 'Bearer <key>'",
                             CHALLENGE)
            return
        client = keys.client_of(key)
        if client is None:
            await send_error(send, 403, "Invalid API key")
            return
        scope.setdefault("state", {})[CLIENT_ID] = client
        await self.app(scope, receive, send)
