"""How a response carries the files it produced (page images, Markdown crops, exports): inline as Base64, or as
URLs into the shared result store (`output.images`, PaddleX's `Serving.return_urls` with a `file_storage`).

The pipeline hands every file to one `Delivery` per request and puts what comes back into the response, so the
choice between the two is made once, when the request starts.
"""

from __future__ import annotations

import asyncio
import base64
import mimetypes
from abc import ABC, abstractmethod
from collections.abc import Mapping

from serve.storage import ResultStore

# What a file whose name says nothing gets served as.
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class Delivery(ABC):
    """Turns a file of this request into the string the response carries for it."""

    @abstractmethod
    async def deliver(self, name: str, data: bytes) -> str:
        """`name` is the file's name within the request (`markdown_0/imgs/….jpg`, `layout_det_res_0.jpg`)."""

    async def deliver_all(self, files: Mapping[str, bytes], name_of: str) -> dict[str, str]:
        """Every file of `files`, keyed as given; each stored as `name_of.format(key=key)`."""
        values = await asyncio.gather(*(self.deliver(name_of.format(key=key), data) for key, data in files.items()))
        return dict(zip(files, values))


class InlineDelivery(Delivery):
    """The file itself, as standard Base64 (the default, and what upstream does without a file storage)."""

    async def deliver(self, name: str, data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")


class StoredDelivery(Delivery):
    """The file goes to the result store under `<prefix>/<name>`; the response carries its URL, which any ingress
    replica resolves until the object expires."""

    def __init__(self, store: ResultStore, prefix: str, public_base_url: str) -> None:
        self._store = store
        self._prefix = prefix
        self._public_base_url = public_base_url

    async def deliver(self, name: str, data: bytes) -> str:
        key = f"{self._prefix}/{name}"
        content_type = mimetypes.guess_type(name)[0] or DEFAULT_CONTENT_TYPE
        await self._store.put(key, data, content_type, self._store.ttl_s)
        return self._store.url(key, public_base_url=self._public_base_url)
