"""The result store as a directory, for a single host or a volume every ingress replica mounts (ReadWriteMany).

Objects are served by the ingress itself (`GET /files/{key}`, serve/storage/http.py) through URLs signed with an
HMAC key: by default a random key generated once into the root, so every replica that mounts the same root signs
alike; or a configured secret (serve/storage/signing.py).

Every path is walked one segment at a time from a descriptor of the root, each opened with O_NOFOLLOW: a symlink
anywhere under the root (planted, or swapped in between two calls) stops the walk instead of leading out of it, and
keys have no `..` segments (serve/storage/base.py), so nothing outside the root is ever read, written or deleted. This
is the race-free form of "resolve the path and check it is inside the root".
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlencode

from serve.storage.base import ResultStore, StoredObject, expiry_after
from serve.storage.signing import SigningKeyError, UrlSigner, checked_signing_key, configured_signing_key

if TYPE_CHECKING:
    from serve.config import StorageConfig

# Where the ingress serves stored objects; part of every URL this store makes.
FILES_PATH = "/files"
# Each object is one file: this line, then the payload. The line holds what a sidecar would (content type and
# expiry), but one rename publishes data and metadata together, and one unlink removes both: a sidecar needs two of
# each, so a reader or a crash can catch them out of step. An mtime-as-expiry scheme cannot carry the content type,
# and backup or copy tools rewrite mtimes.
OBJECT_MAGIC = b"ocrvl-object-v1 "
# Bounds the first line read from a file before it is known to be one of ours (a content type is at most 255).
MAX_HEADER_BYTES = 1024
# Store-owned files start with a dot, which no key segment may, so no URL can name them.
SIGNING_KEY_FILE = ".url-signing-key"
TEMP_PREFIX = ".tmp-"
GENERATED_KEY_BYTES = 32
# A write takes well under a second; a temporary this old was left by a writer that died, and the sweep removes it.
STALE_TEMP_AGE_S = 3600
# A sweep may remove a folder that a put has just created and not yet written into; the put then walks again. A
# sweep removes a folder once, so a second attempt succeeds unless the sweeps run back to back.
PUT_ATTEMPTS = 3
# Only the service's own user reads the store; clients read through signed URLs.
FILE_MODE = 0o600
DIR_MODE = 0o700
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO planted under the root returns at once (and is then refused as not a regular file).
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# What a walk that stops at a missing entry or at a symlink raises (O_NOFOLLOW gives ELOOP on a file, ENOTDIR where
# a folder is wanted): for a reader, there is no such object.
NOT_THERE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP})


class FilesystemStore(ResultStore):
    def __init__(
        self, root: str | Path, ttl_s: int, signing_key_env: str | None = None, signing_key_file: str | None = None
    ) -> None:
        super().__init__(ttl_s)
        os.makedirs(root, mode=DIR_MODE, exist_ok=True)
        # Resolved once: a symlinked mount point is fine; below it, symlinks are refused.
        self.root = Path(root).resolve()
        self.signer = UrlSigner(configured_signing_key(signing_key_env, signing_key_file) or self._root_signing_key())

    @classmethod
    def from_config(cls, config: StorageConfig) -> FilesystemStore:
        fs = config.filesystem
        return cls(fs.root, config.ttl_s, fs.signing_key_env, fs.signing_key_file)

    def _url(self, key: str, public_base_url: str) -> str:
        expires = expiry_after(self.ttl_s)
        query = urlencode({"expires": expires, "signature": self.signer.signature(key, expires)})
        # Key segments need no escaping in a URL path (serve/storage/base.py).
        return f"{public_base_url.rstrip('/')}{FILES_PATH}/{key}?{query}"

    def _put(self, key: str, data: bytes, content_type: str, expires_at: int) -> None:
        *folders, name = key.split("/")
        header = OBJECT_MAGIC + json.dumps({"content_type": content_type, "expires_at": expires_at}).encode() + b"\n"
        for _ in range(PUT_ATTEMPTS):
            try:
                folder_fd = self._open_folder(folders, create=True)
            except FileNotFoundError:
                continue  # a sweep removed a folder on the way
            try:
                temp = _temp_name()
                try:
                    fd = os.open(temp, CREATE_FLAGS, FILE_MODE, dir_fd=folder_fd)
                except FileNotFoundError:
                    continue
                try:
                    with os.fdopen(fd, "wb") as file:
                        file.write(header)
                        file.write(data)
                        file.flush()
                        os.fsync(file.fileno())
                    # Atomic: a reader opens the old object or the new one, never a part of either.
                    os.replace(temp, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
                except BaseException:
                    _unlink_quietly(temp, folder_fd)
                    raise
                return
            finally:
                os.close(folder_fd)
        raise OSError(errno.ENOENT, f"the folders of {key!r} kept disappearing under concurrent sweeps")

    def _get(self, key: str) -> StoredObject | None:
        *folders, name = key.split("/")
        try:
            folder_fd = self._open_folder(folders, create=False)
        except OSError as exc:
            if exc.errno in NOT_THERE:
                return None
            raise
        try:
            file = _open_regular(name, folder_fd)
        except OSError as exc:
            if exc.errno in NOT_THERE:
                return None
            raise
        finally:
            os.close(folder_fd)
        if file is None:
            return None
        with file:
            header = _read_header(file)
            if header is None or header[1] <= time.time():
                return None
            return StoredObject(data=file.read(), content_type=header[0], expires_at=header[1])

    def _delete(self, key: str) -> None:
        *folders, name = key.split("/")
        try:
            folder_fd = self._open_folder(folders, create=False)
        except OSError as exc:
            if exc.errno in NOT_THERE:
                return
            raise
        try:
            # unlink removes a symlink itself, never what it points at.
            os.unlink(name, dir_fd=folder_fd)
        except (FileNotFoundError, IsADirectoryError):
            pass
        finally:
            os.close(folder_fd)

    def _sweep(self) -> int:
        removed = 0
        now = time.time()
        # Bottom-up, so folders are emptied before they are removed. fwalk never follows a symlink, and it skips
        # folders that another replica's sweep removes under it.
        for _, folders, files, folder_fd in os.fwalk(self.root, topdown=False):
            for name in files:
                if name.startswith(TEMP_PREFIX):
                    _remove_if_stale(name, folder_fd, now)
                elif _expired(name, folder_fd, now):
                    # Keys carry the request's logId and are written once, so an expired object is not being
                    # replaced while it is deleted here.
                    removed += _unlink_quietly(name, folder_fd)
            for name in folders:
                try:
                    os.rmdir(name, dir_fd=folder_fd)
                except OSError:
                    pass  # not empty (a put is writing into it), already gone, or a symlink: left alone
        return removed

    def _open_folder(self, folders: list[str], create: bool) -> int:
        """A descriptor of the folder `root/folders...`, opened one segment at a time without following symlinks."""
        fd = os.open(self.root, DIR_FLAGS)
        try:
            for folder in folders:
                if create:
                    try:
                        os.mkdir(folder, DIR_MODE, dir_fd=fd)
                    except FileExistsError:
                        pass
                child = os.open(folder, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _root_signing_key(self) -> bytes:
        """The key kept in the root, generated by whichever replica gets there first. It is written to a temporary
        and linked into place (link, like O_EXCL, fails when the name exists), so the key file appears complete or not
        at all and every replica ends up reading the same one."""
        root_fd = os.open(self.root, DIR_FLAGS)
        try:
            try:
                return _read_signing_key(root_fd, self.root)
            except FileNotFoundError:
                pass
            temp = _temp_name()
            fd = os.open(temp, CREATE_FLAGS, FILE_MODE, dir_fd=root_fd)
            try:
                with os.fdopen(fd, "w") as file:
                    file.write(secrets.token_hex(GENERATED_KEY_BYTES))
                    file.flush()
                    os.fsync(file.fileno())
                try:
                    os.link(temp, SIGNING_KEY_FILE, src_dir_fd=root_fd, dst_dir_fd=root_fd)
                except FileExistsError:
                    pass  # another replica's key got there first: that one is everyone's
            finally:
                _unlink_quietly(temp, root_fd)
            return _read_signing_key(root_fd, self.root)
        finally:
            os.close(root_fd)


def _temp_name() -> str:
    return TEMP_PREFIX + secrets.token_hex(8)


def _open_regular(name: str, folder_fd: int) -> BinaryIO | None:
    """The regular file `name` of the folder, opened for reading; None for anything else there (a folder, a FIFO).
    Raises OSError when there is nothing, or a symlink (ELOOP)."""
    fd = os.open(name, READ_FLAGS, dir_fd=folder_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


def _read_header(file: BinaryIO) -> tuple[str, int] | None:
    """(content type, expiry) of an object file; None for a file that is not one of ours."""
    line = file.readline(MAX_HEADER_BYTES)
    if not line.startswith(OBJECT_MAGIC) or not line.endswith(b"\n"):
        return None
    try:
        header = json.loads(line[len(OBJECT_MAGIC):])
        content_type, expires_at = header["content_type"], header["expires_at"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(content_type, str) or not isinstance(expires_at, int):
        return None
    return content_type, expires_at


def _expired(name: str, folder_fd: int, now: float) -> bool:
    try:
        file = _open_regular(name, folder_fd)
    except OSError:
        return False  # gone already, or a symlink: not an object of ours
    if file is None:
        return False
    with file:
        header = _read_header(file)
    return header is not None and header[1] <= now


def _remove_if_stale(name: str, folder_fd: int, now: float) -> None:
    try:
        if os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_mtime < now - STALE_TEMP_AGE_S:
            os.unlink(name, dir_fd=folder_fd)
    except FileNotFoundError:
        pass


def _unlink_quietly(name: str, folder_fd: int) -> bool:
    """Whether this call removed `name` (False when it was gone already: another sweep was first)."""
    try:
        os.unlink(name, dir_fd=folder_fd)
    except FileNotFoundError:
        return False
    return True


def _read_signing_key(root_fd: int, root: Path) -> bytes:
    """The generated key; FileNotFoundError when there is none yet. Anything else wrong with it (a symlink, not a
    regular file, too short) is an error: the key is never silently replaced."""
    path = root / SIGNING_KEY_FILE
    try:
        file = _open_regular(SIGNING_KEY_FILE, root_fd)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise
        raise SigningKeyError(f"cannot read the URL-signing key {path}: {exc.strerror}") from exc
    if file is None:
        raise SigningKeyError(f"the URL-signing key {path} is not a regular file")
    with file:
        return checked_signing_key(file.read().decode(errors="replace"), str(path))
