"""Webhooks: a job's final status POSTed to the `webhookUrl` its client gave, once the job has ended.

The body is the job's status as `GET /api/v2/ocr/jobs/{jobId}` answers it (`data`). It is signed as Stripe and
GitHub sign theirs, so a receiver can check it came from this service and is not a replay:

    X-Ocrvl-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the shared secret>

A receiver recomputes the HMAC over the raw body with the timestamp from the header, compares in constant time,
and refuses timestamps too far from its clock (`verify_signature` does all three). The target is vetted like URL
input (no private addresses unless allowed, the connection pinned to the vetted address, no redirects); a delivery
that does not get a 2xx is tried again with doubling waits, up to `jobs.webhooks.attempts`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time

from layout.decode import InputError
from serve.config import WebhookConfig
from serve.storage.signing import SigningKeyError, configured_signing_key
from serve.url_fetch import FetchPolicy, check_target, post_vetted

logger = logging.getLogger("ocrvl")

SIGNATURE_HEADER = "X-Ocrvl-Signature"
# Receivers refuse a signature whose timestamp is further than this from their clock.
DEFAULT_TOLERANCE_S = 300
# Only the body is sent; webhooks never follow redirects, so these are unused but must be valid.
_NO_BYTES_READ = 1
_NO_REDIRECTS = 0


def signature_header(secret: bytes, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: bytes, body: bytes, header: str, now: float, tolerance_s: float = DEFAULT_TOLERANCE_S
                     ) -> bool:
    """Whether `header` (the X-Ocrvl-Signature a receiver got) signs `body` under `secret`, made within
    `tolerance_s` of `now`. For receivers written in Python; the scheme is in the module docstring."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp, digest = fields.get("t", ""), fields.get("v1", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(signature_header(secret, body, int(timestamp)), f"t={timestamp},v1={digest}")


class WebhookSender:
    def __init__(self, config: WebhookConfig) -> None:
        secret = configured_signing_key(config.secret_env, config.secret_file)
        if secret is None:
            raise SigningKeyError("webhooks are on, but no signing secret is configured (jobs.webhooks.secret_env "
                                  "or secret_file)")
        self._secret = secret
        self._config = config
        self._policy = FetchPolicy(
            max_bytes=_NO_BYTES_READ, timeout_s=config.timeout_s, max_redirects=_NO_REDIRECTS,
            allow_private_networks=config.allow_private_networks, allowed_hosts=frozenset(config.allowed_hosts),
        )

    async def check(self, url: str) -> None:
        """Raises InputError for a target no delivery would be allowed to reach."""
        await check_target(url, self._policy)

    async def deliver(self, url: str, body: bytes) -> bool:
        """Tries until the target answers 2xx (True) or the attempts are spent (False)."""
        wait = self._config.backoff_s
        for attempt in range(1, self._config.attempts + 1):
            headers = {"Content-Type": "application/json",
                       SIGNATURE_HEADER: signature_header(self._secret, body, int(time.time()))}
            try:
                status = await post_vetted(url, body, headers, self._policy)
                if 200 <= status < 300:
                    return True
                logger.warning("webhook %s answered %d (attempt %d)", url, status, attempt)
            except InputError as exc:
                logger.warning("webhook %s: %s (attempt %d)", url, exc, attempt)
            if attempt < self._config.attempts:
                await asyncio.sleep(wait)
                wait = min(wait * 2, self._config.max_backoff_s)
        return False
