"""The result store's interface: files a response points at by URL, kept for a while under `<logId>/<name>` keys.

Every backend is shared by all ingress replicas (one S3 bucket, or one volume every replica mounts), so a URL made
by one replica resolves through any of them. Objects expire; `sweep_expired`, called periodically by the ingress,
deletes what has, so nothing grows without bound.

Keys, content types and TTLs are checked here, once, for every backend: a backend only ever sees a key that is a
relative path of safe segments, so it cannot be talked into touching anything outside its own namespace.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from serve.config import StorageConfig

# A segment starts with a letter, digit or underscore and goes on with those, dots and dashes: `.` and `..` can never
# be one, and neither can a store's own dot-files (temporaries, the filesystem store's signing key). The charset
# needs no escaping in a URL path, an S3 key or a file name.
KEY_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
# NAME_MAX of the common filesystems.
MAX_SEGMENT_LENGTH = 255
# Far under S3's 1024-byte key limit, leaving room for the bucket prefix, and under any filesystem's PATH_MAX.
MAX_KEY_LENGTH = 512
# `type/subtype; parameters` in printable ASCII: it is sent back verbatim as a response header.
CONTENT_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(;[ -~]*)?")
MAX_CONTENT_TYPE_LENGTH = 255


class InvalidKey(ValueError):
    """A key that is not a relative path of safe segments; nothing is read, written or signed for it."""


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    content_type: str
    expires_at: int  # unix seconds; the object is gone from then on


def validate_key(key: str) -> None:
    """Raises InvalidKey unless `key` is `/`-separated segments of KEY_SEGMENT: relative, no empty, `.` or `..`
    segment, no backslash or control character, at most MAX_KEY_LENGTH characters."""
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"key longer than {MAX_KEY_LENGTH} characters")
    for segment in key.split("/"):
        if len(segment) > MAX_SEGMENT_LENGTH or not KEY_SEGMENT.fullmatch(segment):
            raise InvalidKey(f"invalid key {key!r}: segments are [A-Za-z0-9_][A-Za-z0-9._-]*, separated by '/'")


def validate_prefix(prefix: str) -> None:
    """Raises InvalidKey unless `prefix` is one or more key segments followed by `/`. Never empty: a store deletes
    what is under its prefix, which must not reach objects the service does not own."""
    if not prefix.endswith("/"):
        raise InvalidKey(f"invalid prefix {prefix!r}: a prefix ends with '/'")
    validate_key(prefix[:-1])


def validate_content_type(content_type: str) -> None:
    if len(content_type) > MAX_CONTENT_TYPE_LENGTH or not CONTENT_TYPE.fullmatch(content_type):
        raise ValueError(f"invalid content type {content_type!r}")


def expiry_after(ttl_s: int) -> int:
    """The unix second `ttl_s` seconds from now, rounded up so an object lives at least `ttl_s`."""
    return math.ceil(time.time()) + ttl_s


class ResultStore(ABC):
    """Objects under validated keys, each living at most the store's `ttl_s`, and URLs to them that live as long.

    The public methods check their arguments and run the backend's blocking I/O in a worker thread, so the ingress's
    event loop never waits on a disk or the network.
    """

    def __init__(self, ttl_s: int) -> None:
        # Also how long every URL lives: a URL is made without asking the store when its object expires (S3 presigns
        # locally), so no object may outlive it.
        self.ttl_s = ttl_s

    @classmethod
    @abstractmethod
    def from_config(cls, config: StorageConfig) -> ResultStore:
        """The store the config describes; raises when it cannot be used (a configured secret that cannot be read)."""

    async def put(self, key: str, data: bytes, content_type: str, ttl_s: int) -> None:
        """Stores `data` under `key` (replacing what was there) until `ttl_s` seconds from now, at most the store's."""
        validate_key(key)
        validate_content_type(content_type)
        if not 0 < ttl_s <= self.ttl_s:
            raise ValueError(f"ttl_s must be in 1..{self.ttl_s} (the store's ttl_s, which its URLs live), not {ttl_s}")
        await asyncio.to_thread(self._put, key, data, content_type, expiry_after(ttl_s))

    def url(self, key: str, *, public_base_url: str) -> str:
        """An absolute URL that GETs the object, valid for the store's `ttl_s` from now: as long as an object put now
        lives. Made locally (no I/O); `public_base_url` is where clients reach the ingress (backends that serve
        objects themselves, like S3, ignore it)."""
        validate_key(key)
        return self._url(key, public_base_url)

    async def get(self, key: str) -> StoredObject | None:
        """The object, or None when there is none under `key` or it has expired (even if not yet swept)."""
        validate_key(key)
        return await asyncio.to_thread(self._get, key)

    async def delete(self, key: str) -> None:
        """Removes the object; nothing happens when there is none."""
        validate_key(key)
        await asyncio.to_thread(self._delete, key)

    async def sweep_expired(self) -> int:
        """Deletes expired objects and returns how many. Several replicas may sweep the same store at once."""
        return await asyncio.to_thread(self._sweep)

    def close(self) -> None:  # noqa: B027 - a no-op for backends that hold nothing
        """Releases what the backend holds (connections); the store is not used afterwards."""

    # What a backend implements: blocking calls, run in a worker thread, with every argument already checked.

    @abstractmethod
    def _put(self, key: str, data: bytes, content_type: str, expires_at: int) -> None: ...

    @abstractmethod
    def _url(self, key: str, public_base_url: str) -> str: ...

    @abstractmethod
    def _get(self, key: str) -> StoredObject | None: ...

    @abstractmethod
    def _delete(self, key: str) -> None: ...

    @abstractmethod
    def _sweep(self) -> int: ...
