"""Pages read before, answered without the stages: a cache in Redis shared by every ingress replica.

A page is the same page when its pixels and its PDF text layer are, whatever document carried it; its reading is
the same when everything that shapes it is: the request's resolved options (`ParseOptions`), the service's layout,
recognition and output configuration, and this package's version. The key hashes all of them, under the partition
of the client that sent the page (`PageCacheConfig.shared_across_clients` says why). What is kept is the page as read
(`ReadPage`: blocks, boxes, its picture bytes), never the written result, whose file URLs belong to one response.

Entries are JSON, not pickles: whoever can write to the Redis must not be able to run code in the ingress. The cache
is an optimisation and never a failure: a Redis that is down, slow or holds an entry this version cannot read is a
miss, counted as an error.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
from dataclasses import replace
from importlib.metadata import version
from typing import Any

import numpy as np
import redis.asyncio as redis
from pydantic import BaseModel, ConfigDict, ValidationError
from redis.exceptions import RedisError

from layout.text_layer import TextLayer
from serve.config import PageCacheConfig, ServiceConfig
from serve.metrics import PageCacheMetrics
from serve.pipeline import ParseOptions, ReadPage
from serve.priority import INTERACTIVE

logger = logging.getLogger("ocrvl")

HIT, MISS, STORED, TOO_LARGE, ERROR = "hit", "miss", "stored", "too_large", "error"


class _Entry(BaseModel):
    # Picture bytes as Base64 in the JSON.
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    page: ReadPage


class PageCache:
    def __init__(self, config: ServiceConfig, metrics: PageCacheMetrics) -> None:
        self._config: PageCacheConfig = config.page_cache
        if self._config.redis_url is None:
            raise ValueError("page_cache.redis_url is unset: `ocrvl serve` starts a private Redis on one machine; "
                             "anywhere else, name one")
        self._redis = redis.Redis.from_url(
            self._config.redis_url, socket_timeout=self._config.redis_timeout_s,
            socket_connect_timeout=self._config.redis_timeout_s,
        )
        self._metrics = metrics
        # What shapes every reading besides the request: a change of model, backend option or version is a new key.
        service = {section: getattr(config, section).model_dump(mode="json")
                   for section in ("layout", "recognition", "output")}
        self._service = _digest(json.dumps([version("ocrvl"), service], sort_keys=True).encode())

    def key(self, page: np.ndarray, layer: TextLayer | None, options: ParseOptions) -> str:
        """The page's key: its pixels and text layer, the options, the service's version, and the client's
        partition (`options.page_cache`). Hashing a rendered page takes milliseconds: call it off the event loop."""
        content = hashlib.blake2b(digest_size=32)
        content.update(repr((page.shape, page.dtype.str)).encode())
        content.update(np.ascontiguousarray(page).data)
        content.update(repr(layer).encode())
        # The request's class orders the work and changes nothing read: a job's page and a call's share an entry.
        unordered = replace(options, recognition=replace(options.recognition, priority=INTERACTIVE))
        request = json.dumps(_canonical(unordered), sort_keys=True).encode()
        scope = _digest(str(options.page_cache).encode())
        return f"{self._config.key_prefix}:{scope}:{self._service}:{_digest(request)}:{content.hexdigest()}"

    async def get(self, key: str) -> ReadPage | None:
        try:
            stored = await self._redis.get(key)
            found = None if stored is None else _Entry.model_validate_json(stored).page
        except (RedisError, OSError, ValidationError) as exc:
            logger.warning("page cache lookup failed, reading the page: %s", exc)
            self._metrics.count(ERROR)
            return None
        self._metrics.count(MISS if found is None else HIT)
        return found

    async def put(self, key: str, page: ReadPage) -> None:
        # Blocks point at the leader of the group they were read with only until they are numbered (group_id).
        entry = _Entry(page=replace(page, blocks=[replace(b, group_leader=None) for b in page.blocks]))
        data = entry.model_dump_json().encode()
        if len(data) > self._config.max_entry_bytes:
            self._metrics.count(TOO_LARGE)
            return
        try:
            await self._redis.set(key, data, ex=self._config.ttl_s)
        except (RedisError, OSError) as exc:
            logger.warning("page cache store failed: %s", exc)
            self._metrics.count(ERROR)
            return
        self._metrics.count(STORED)

    async def close(self) -> None:
        await self._redis.aclose()


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _canonical(value: Any) -> Any:
    """JSON-ready and the same in every process: sets sorted (their iteration order follows string hashing, which
    differs between processes), dataclasses and models by field."""
    if isinstance(value, BaseModel):
        return _canonical(value.model_dump(mode="python"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _canonical(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    return value
