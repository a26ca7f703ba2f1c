"""`GET /files/{key}`: the filesystem store's objects, to whoever holds a signed URL (serve/storage/filesystem.py).

No API key is asked for: the signature is the authorisation, and clients follow these URLs the way they follow any
link. Errors are raised as HTTPException, so the app's handlers (serve/errors.py) answer in the envelope.
"""

from __future__ import annotations

import math
import time

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from serve.storage.base import InvalidKey, validate_key
from serve.storage.filesystem import FILES_PATH, FilesystemStore

FORBIDDEN_MESSAGE = "Invalid or expired file URL"
NOT_FOUND_MESSAGE = "File not found or expired"


def files_router(store: FilesystemStore) -> APIRouter:
    router = APIRouter()

    # Not in the OpenAPI document: clients follow the URLs a response gives them, they do not compose them.
    @router.get(FILES_PATH + "/{key:path}", include_in_schema=False)
    async def download(key: str, expires: str | None = None, signature: str | None = None) -> Response:
        # The key as the server decoded it from the path: `%2F` and `%2e%2e` arrive as `/` and `..` and are judged
        # like them.
        try:
            validate_key(key)
        except InvalidKey:
            raise HTTPException(404, NOT_FOUND_MESSAGE) from None
        now = time.time()
        url_expires = store.signer.verified_expiry(key, expires, signature, now)
        if url_expires is None:
            raise HTTPException(403, FORBIDDEN_MESSAGE)
        stored = await store.get(key)
        if stored is None:
            raise HTTPException(404, NOT_FOUND_MESSAGE)
        # A cache keeps the file no longer than the URL or the object lives.
        max_age = max(0, math.floor(min(url_expires, stored.expires_at) - now))
        return Response(
            content=stored.data,
            media_type=stored.content_type,
            headers={
                "Cache-Control": f"private, max-age={max_age}",
                # Served as what it was stored as, never sniffed into something a browser would run.
                "X-Content-Type-Options": "nosniff",
            },
        )

    return router
