"""Result stores by name. The config names one; its module (and its client library) is imported only when used."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from serve.storage.base import InvalidKey, ResultStore, StoredObject

if TYPE_CHECKING:
    from serve.config import StorageConfig

STORES: dict[str, str] = {
    "filesystem": "serve.storage.filesystem:FilesystemStore",
    "s3": "serve.storage.s3:S3Store",
}

__all__ = ["STORES", "InvalidKey", "ResultStore", "StoredObject", "build_store"]


def build_store(config: StorageConfig) -> ResultStore:
    if config.backend not in STORES:
        raise ValueError(f"unknown result store {config.backend!r}; known: {sorted(STORES)}")
    module_name, class_name = STORES[config.backend].split(":")
    store_class: type[ResultStore] = getattr(importlib.import_module(module_name), class_name)
    return store_class.from_config(config)
