"""`storage` in the service config: defaults, the checks made when a config is loaded, and the store it builds."""

from __future__ import annotations

import asyncio
from typing import get_args

import pytest
import yaml
from pydantic import ValidationError

from serve.config import ServiceConfig, StorageConfig
from serve.storage import STORES, build_store
from serve.storage.filesystem import FilesystemStore

YAML = """
storage:
  backend: s3
  ttl_s: 1800
  sweep_interval_s: 120
  public_base_url: https://ocr.example.com
  filesystem:
    root: /var/lib/ocrvl/results
    signing_key_env: null
    signing_key_file: /etc/ocrvl/url-signing-key
  s3:
    bucket: ocrvl-results
    prefix: results/
    endpoint_url: http://minio.storage.svc:9000
    region: us-east-1
    addressing_style: path
    presign_endpoint_url: https://files.example.com
    timeout_s: 5
"""


def test_every_named_backend_is_registered():
    assert set(STORES) == set(get_args(StorageConfig.model_fields["backend"].annotation))


def test_the_default_is_a_local_filesystem_store_for_an_hour():
    storage = ServiceConfig().storage
    assert (storage.backend, storage.ttl_s, storage.public_base_url) == ("filesystem", 3600, None)
    assert storage.filesystem.root == "/tmp/ocrvl/results"
    assert storage.filesystem.signing_key_env == "OCRVL_URL_SIGNING_KEY"


def test_the_documented_yaml_shape_loads():
    storage = ServiceConfig.model_validate(yaml.safe_load(YAML)).storage
    assert storage.s3.bucket == "ocrvl-results" and storage.s3.addressing_style == "path"
    assert storage.filesystem.signing_key_file == "/etc/ocrvl/url-signing-key"


@pytest.mark.parametrize("storage, message", [
    ({"backend": "s3"}, "needs the storage.s3 section"),
    ({"backend": "gcs"}, "backend"),
    ({"s3": {"bucket": "b", "prefix": ""}}, "prefix"),
    ({"s3": {"bucket": "b", "prefix": "results"}}, "prefix"),
    ({"s3": {"bucket": "b", "prefix": "../results/"}}, "prefix"),
    ({"s3": {}}, "bucket"),
    ({"public_base_url": "ocr.example.com"}, "public_base_url"),
    ({"public_base_url": "https://ocr.example.com/?x=1"}, "public_base_url"),
    ({"ttl_s": 0}, "ttl_s"),
    ({"filesystem": {"rot": "x"}}, "rot"),
])
def test_a_config_that_cannot_work_fails_when_loaded(storage, message):
    with pytest.raises(ValidationError, match=message):
        ServiceConfig.model_validate({"storage": storage})


def test_build_store_makes_the_configured_filesystem_store(tmp_path):
    config = StorageConfig.model_validate({"ttl_s": 30, "filesystem": {"root": str(tmp_path / "r"),
                                                                        "signing_key_env": None}})
    store = build_store(config)
    assert isinstance(store, FilesystemStore)
    assert store.ttl_s == 30 and store.root == tmp_path / "r"
    asyncio.run(store.put("log/a.jpg", b"x", "image/jpeg", 30))
    assert asyncio.run(store.get("log/a.jpg")).data == b"x"


def test_a_relative_filesystem_root_is_refused():
    # A replica's working directory is Ray's choice: two replicas would each resolve their own directory.
    with pytest.raises(ValidationError):
        ServiceConfig.model_validate({"storage": {"filesystem": {"root": "var/results"}}})
