"""The result store in any S3-compatible object store: AWS S3, MinIO, Ceph RGW, Google Cloud Storage (interop).

It speaks through boto3, the maintained and ubiquitous S3 client, which every one of those stores is tested against,
and whose presigned URLs are computed locally (SigV4, no network call), so handing out a URL costs nothing.
Credentials come from boto3's standard chain, never from the service's config: AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY in the environment (from a Kubernetes Secret), a mounted credentials file
(AWS_SHARED_CREDENTIALS_FILE), or a pod role (IRSA, EKS Pod Identity). Clients download objects from the store
itself through presigned GET URLs; the ingress serves nothing.

Objects live under `<prefix><key>`, carry their expiry in metadata (`x-amz-meta-expires-at`, unix seconds; `get`
answers None past it) and an `Expires` header for HTTP caches. The sweep lists the prefix and deletes what was last
modified more than the store's `ttl_s` ago: listings carry LastModified, so no object needs a HEAD, and no object may
be put for longer than `ttl_s` (serve/storage/base.py). The prefix must belong to the service alone: everything
under it older than `ttl_s` is deleted.

Operators add a lifecycle rule as the backstop, for when no replica sweeps (all scaled down, or crashing): S3
expires objects in whole days, so use the smallest number of days that is at least `ttl_s` (1 for the default hour):

    {"Rules": [{"ID": "ocrvl-results-expiry", "Status": "Enabled", "Filter": {"Prefix": "ocrvl/results/"},
                "Expiration": {"Days": 1}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]}

    aws s3api put-bucket-lifecycle-configuration --bucket BUCKET --lifecycle-configuration file://lifecycle.json
    mc ilm rule add --expire-days 1 --prefix ocrvl/results/ ALIAS/BUCKET        # MinIO

Ceph RGW takes the same JSON through the S3 API. On GCS, a bucket lifecycle rule:

    {"rule": [{"action": {"type": "Delete"}, "condition": {"age": 1, "matchesPrefix": ["ocrvl/results/"]}}]}
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from serve.storage.base import ResultStore, StoredObject, validate_prefix

if TYPE_CHECKING:
    from serve.config import StorageConfig

logger = logging.getLogger("ocrvl")

# SigV4 presigned URLs live at most 7 days; a longer ttl_s gets URLs that expire before their objects.
MAX_PRESIGN_S = 7 * 24 * 3600
# User metadata key (sent as x-amz-meta-expires-at; S3 hands metadata keys back lower-cased).
EXPIRES_AT_METADATA = "expires-at"
# DeleteObjects takes at most this many keys per call.
DELETE_BATCH = 1000
# What stores answer for a key that is not there.
NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})

AddressingStyle = Literal["auto", "virtual", "path"]


class S3Store(ResultStore):
    def __init__(
        self,
        bucket: str,
        prefix: str,
        ttl_s: int,
        *,
        addressing_style: AddressingStyle,
        timeout_s: float,
        endpoint_url: str | None = None,
        region: str | None = None,
        presign_endpoint_url: str | None = None,
    ) -> None:
        super().__init__(ttl_s)
        validate_prefix(prefix)
        self.bucket = bucket
        self.prefix = prefix
        config = BotoConfig(
            region_name=region,
            signature_version="s3v4",
            s3={"addressing_style": addressing_style},
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retries={"mode": "standard"},
            # Only the checksums S3 requires: the CRC headers boto3 adds by default are refused by several
            # S3-compatible stores (older MinIO and Ceph RGW, GCS interop).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A session of our own: boto3's default one is shared and not thread-safe; clients are.
        session = boto3.session.Session()
        self._client = session.client("s3", endpoint_url=endpoint_url, config=config)
        # The signature covers the host, so URLs for clients are made for the endpoint they reach.
        self._presigner = (
            session.client("s3", endpoint_url=presign_endpoint_url, config=config)
            if presign_endpoint_url is not None
            else self._client
        )

    @classmethod
    def from_config(cls, config: StorageConfig) -> S3Store:
        s3 = config.s3
        if s3 is None:
            raise ValueError("the s3 store needs the storage.s3 section")
        return cls(s3.bucket, s3.prefix, config.ttl_s, endpoint_url=s3.endpoint_url, region=s3.region,
                   addressing_style=s3.addressing_style, presign_endpoint_url=s3.presign_endpoint_url,
                   timeout_s=s3.timeout_s)

    def _put(self, key: str, data: bytes, content_type: str, expires_at: int) -> None:
        self._client.put_object(
            Bucket=self.bucket, Key=self.prefix + key, Body=data, ContentType=content_type,
            Metadata={EXPIRES_AT_METADATA: str(expires_at)},
            # Absolute, so a cache never keeps the object past its expiry, however late it fetched it.
            CacheControl="private", Expires=datetime.fromtimestamp(expires_at, timezone.utc),
        )

    def _url(self, key: str, public_base_url: str) -> str:
        return self._presigner.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.prefix + key},
            ExpiresIn=min(self.ttl_s, MAX_PRESIGN_S),
        )

    def _get(self, key: str) -> StoredObject | None:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as exc:
            if _error_code(exc) in NOT_FOUND_CODES:
                return None
            raise
        with response["Body"] as body:
            expires_at = _expires_at(response)
            # An object without our metadata was not put by this store: not served.
            if expires_at is None or expires_at <= time.time():
                return None
            return StoredObject(data=body.read(), content_type=response["ContentType"], expires_at=expires_at)

    def _delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def _sweep(self) -> int:
        cutoff = time.time() - self.ttl_s
        removed = 0
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix, PaginationConfig={"PageSize": DELETE_BATCH}
        )
        # Page by page, so memory stays bounded however much is under the prefix.
        for page in pages:
            expired = [item["Key"] for item in page.get("Contents", []) if item["LastModified"].timestamp() <= cutoff]
            if expired:
                removed += self._delete_batch(expired)
        return removed

    def _delete_batch(self, keys: list[str]) -> int:
        response = self._client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
        )
        # Quiet: only failures are listed. A key another replica's sweep deleted first counts here too.
        errors = response.get("Errors", [])
        for error in errors:
            logger.warning("sweep could not delete s3://%s/%s: %s", self.bucket, error.get("Key"), error.get("Message"))
        return len(keys) - len(errors)

    def close(self) -> None:
        self._client.close()
        if self._presigner is not self._client:
            self._presigner.close()


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _expires_at(response: dict[str, Any]) -> int | None:
    value = response.get("Metadata", {}).get(EXPIRES_AT_METADATA, "")
    return int(value) if value.isdigit() else None
