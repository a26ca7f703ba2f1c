"""Signed file URLs: `?expires=<unix seconds>&signature=<hex HMAC-SHA256 over the key and the expiry>`.

Anyone holding the signing key can mint a URL to any object, so the key comes from a secret (an environment variable
or a mounted file) when one is configured, and a configured source that cannot be used stops the replica: it never
falls back to another key. Without one, the filesystem store keeps a generated key in its root (see
`FilesystemStore`), which every replica mounting that root shares.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from pathlib import Path

# A 256-bit key, HMAC-SHA256's own strength; shorter secrets are refused rather than silently weak.
MIN_SIGNING_KEY_BYTES = 32
# What is signed starts with this, so a signature made for anything else with the same key never verifies here.
SIGNATURE_CONTEXT = b"ocrvl-file-url-v1\n"
SIGNATURE = re.compile(r"[0-9a-f]{64}")
# Unix seconds fit in 10 digits until the year 2286; the bound keeps a forged `expires` from being a huge number.
EXPIRES = re.compile(r"[0-9]{1,12}")


class SigningKeyError(ValueError):
    """The configured URL-signing key cannot be used; the replica must not start without it."""


def checked_signing_key(secret: str, source: str) -> bytes:
    key = secret.strip().encode()
    if len(key) < MIN_SIGNING_KEY_BYTES:
        raise SigningKeyError(f"the signing key in {source} is shorter than {MIN_SIGNING_KEY_BYTES} bytes")
    return key


def configured_signing_key(env_var: str | None, file: str | None) -> bytes | None:
    """The key from `env_var` (when that variable is set) or `file` (when named); None when neither is configured.
    A configured source that is unreadable, empty or short raises SigningKeyError, and so do both at once."""
    from_env = env_var is not None and env_var in os.environ
    if from_env and file is not None:
        raise SigningKeyError(f"both ${env_var} and the file {file} hold a signing key: configure one")
    if from_env:
        return checked_signing_key(os.environ[env_var], f"${env_var}")
    if file is not None:
        try:
            return checked_signing_key(Path(file).read_text(), file)
        except OSError as exc:
            raise SigningKeyError(f"cannot read the signing key file {file}: {exc.strerror}") from exc
    return None


class UrlSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def signature(self, key: str, expires: int) -> str:
        message = SIGNATURE_CONTEXT + f"{key}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def verified_expiry(self, key: str, expires: str | None, signature: str | None, now: float) -> int | None:
        """The URL's expiry when `signature` is this signer's for `key` and `expires` (as they came in the URL) and
        `expires` is still ahead of `now`; None otherwise, malformed or missing values included."""
        if expires is None or signature is None or not EXPIRES.fullmatch(expires) or not SIGNATURE.fullmatch(signature):
            return None
        authentic = hmac.compare_digest(self.signature(key, int(expires)), signature)
        return int(expires) if authentic and int(expires) > now else None
