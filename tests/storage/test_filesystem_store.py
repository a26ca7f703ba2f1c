"""The filesystem store: objects round-trip, writes are atomic, expiry is honoured and swept, and nothing outside the
root is ever read, written or deleted, whatever the key or whatever is planted under the root."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from serve.storage.base import InvalidKey
from serve.storage.filesystem import (
    FILES_PATH,
    OBJECT_MAGIC,
    SIGNING_KEY_FILE,
    STALE_TEMP_AGE_S,
    TEMP_PREFIX,
    FilesystemStore,
)
from serve.storage.signing import MIN_SIGNING_KEY_BYTES, SigningKeyError
from tests.storage.conftest import TTL_S

KEY = "0b9d7c1e-5f3a-4c2b-9e8d-1a2b3c4d5e6f/markdown_0/imgs/img_in_image_box_10_20_300_400.jpg"
BASE_URL = "https://ocr.example.com"


def run(coroutine):
    return asyncio.run(coroutine)


def _signed_parts(url: str) -> tuple[str, str, str]:
    """(key, expires, signature) of a URL the store made."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return parts.path.removeprefix(FILES_PATH + "/"), query["expires"][0], query["signature"][0]


def test_an_object_round_trips_with_its_content_type_and_expiry(fs_store):
    before = time.time()
    run(fs_store.put(KEY, b"\xff\xd8jpeg", "image/jpeg", TTL_S))
    stored = run(fs_store.get(KEY))
    assert stored.data == b"\xff\xd8jpeg"
    assert stored.content_type == "image/jpeg"
    assert before + TTL_S <= stored.expires_at <= time.time() + TTL_S + 1


def test_a_put_replaces_the_object_and_a_delete_removes_it(fs_store):
    run(fs_store.put(KEY, b"one", "image/jpeg", TTL_S))
    run(fs_store.put(KEY, b"two", "image/png", TTL_S))
    assert run(fs_store.get(KEY)).data == b"two"
    run(fs_store.delete(KEY))
    assert run(fs_store.get(KEY)) is None
    run(fs_store.delete(KEY))  # deleting what is not there is no error
    run(fs_store.delete("unknown/x.jpg"))


def test_unknown_keys_and_folders_are_not_objects(fs_store):
    run(fs_store.put(KEY, b"x", "image/jpeg", TTL_S))
    assert run(fs_store.get("unknown/x.jpg")) is None
    assert run(fs_store.get(KEY.rsplit("/", 1)[0])) is None  # a folder
    assert run(fs_store.get(KEY + "/deeper.jpg")) is None  # under a file


@pytest.mark.parametrize("ttl_s", [0, -1, TTL_S + 1])
def test_a_ttl_outside_the_stores_is_refused(fs_store, ttl_s):
    with pytest.raises(ValueError, match="ttl_s"):
        run(fs_store.put(KEY, b"x", "image/jpeg", ttl_s))


def test_an_unsendable_content_type_is_refused(fs_store):
    with pytest.raises(ValueError, match="content type"):
        run(fs_store.put(KEY, b"x", "image/jpeg\r\nX-Evil: 1", TTL_S))


@pytest.mark.parametrize("key", ["../outside.jpg", "/etc/passwd", "log/../../x.jpg", SIGNING_KEY_FILE,
                                 "log\\..\\x.jpg", "log/.tmp-0001"])
def test_every_operation_refuses_an_invalid_key(fs_store, key):
    with pytest.raises(InvalidKey):
        run(fs_store.put(key, b"x", "image/jpeg", TTL_S))
    with pytest.raises(InvalidKey):
        run(fs_store.get(key))
    with pytest.raises(InvalidKey):
        run(fs_store.delete(key))
    with pytest.raises(InvalidKey):
        fs_store.url(key, public_base_url=BASE_URL)
    assert not (fs_store.root.parent / "outside.jpg").exists()


def test_a_url_is_signed_for_its_key_until_the_store_ttl(fs_store):
    url = fs_store.url(KEY, public_base_url=BASE_URL + "/")
    assert url.startswith(f"{BASE_URL}{FILES_PATH}/{KEY}?expires=")
    key, expires, signature = _signed_parts(url)
    assert key == KEY
    assert time.time() + TTL_S <= int(expires) <= time.time() + TTL_S + 1
    assert fs_store.signer.verified_expiry(key, expires, signature, time.time()) == int(expires)


def test_two_replicas_on_one_root_verify_each_others_urls(tmp_path):
    root = tmp_path / "shared"
    first = FilesystemStore(root, TTL_S, signing_key_env=None)
    second = FilesystemStore(root, TTL_S, signing_key_env=None)
    run(first.put(KEY, b"page", "image/jpeg", TTL_S))
    key, expires, signature = _signed_parts(first.url(KEY, public_base_url=BASE_URL))
    assert second.signer.verified_expiry(key, expires, signature, time.time()) is not None
    assert run(second.get(key)).data == b"page"


def test_replicas_starting_together_generate_one_key(tmp_path):
    root = tmp_path / "shared"
    stores: list[FilesystemStore] = []

    def start() -> None:
        stores.append(FilesystemStore(root, TTL_S, signing_key_env=None))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    signatures = {store.signer.signature(KEY, 1) for store in stores}
    assert len(stores) == 8 and len(signatures) == 1
    assert [p.name for p in root.iterdir()] == [SIGNING_KEY_FILE]  # no temporaries left behind


def test_the_generated_key_is_private_and_stays(tmp_path):
    root = tmp_path / "shared"
    signature = FilesystemStore(root, TTL_S, signing_key_env=None).signer.signature(KEY, 1)
    key_file = root / SIGNING_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_bytes()) >= MIN_SIGNING_KEY_BYTES
    assert FilesystemStore(root, TTL_S, signing_key_env=None).signer.signature(KEY, 1) == signature


def test_a_configured_key_is_used_and_no_key_is_generated(monkeypatch, tmp_path):
    monkeypatch.setenv("OCRVL_TEST_SIGNING_KEY", "s" * MIN_SIGNING_KEY_BYTES)
    first = FilesystemStore(tmp_path / "a", TTL_S, signing_key_env="OCRVL_TEST_SIGNING_KEY")
    second = FilesystemStore(tmp_path / "b", TTL_S, signing_key_env="OCRVL_TEST_SIGNING_KEY")
    assert first.signer.signature(KEY, 1) == second.signer.signature(KEY, 1)
    assert not (tmp_path / "a" / SIGNING_KEY_FILE).exists()


def test_a_configured_key_that_cannot_be_read_fails_rather_than_falling_back(tmp_path):
    with pytest.raises(SigningKeyError):
        FilesystemStore(tmp_path / "root", TTL_S, signing_key_env=None, signing_key_file=str(tmp_path / "absent"))
    assert not (tmp_path / "root" / SIGNING_KEY_FILE).exists()


@pytest.mark.parametrize("plant", ["symlink", "short", "folder"])
def test_a_generated_key_file_that_is_not_a_sound_key_fails(tmp_path, plant):
    root = tmp_path / "root"
    root.mkdir()
    key_file = root / SIGNING_KEY_FILE
    if plant == "symlink":
        (tmp_path / "elsewhere").write_text("k" * 64)
        key_file.symlink_to(tmp_path / "elsewhere")
    elif plant == "short":
        key_file.write_text("k")
    else:
        key_file.mkdir()
    with pytest.raises(SigningKeyError):
        FilesystemStore(root, TTL_S, signing_key_env=None)


def test_a_concurrent_reader_sees_a_whole_old_or_new_object_never_a_part(fs_store):
    # Large enough that a non-atomic write would be caught part-way.
    payloads = [bytes([n]) * (2 * 1024 * 1024) for n in (1, 2)]

    async def write() -> None:
        for index in range(40):
            await fs_store.put(KEY, payloads[index % 2], "image/jpeg", TTL_S)

    async def race() -> int:
        writer = asyncio.ensure_future(write())
        reads = 0
        while not writer.done():
            stored = await fs_store.get(KEY)
            assert stored.data in payloads, "a reader saw a partly written object"
            reads += 1
        await writer
        return reads

    run(fs_store.put(KEY, payloads[0], "image/jpeg", TTL_S))
    assert run(race()) > 0
    folder = fs_store.root / KEY.rsplit("/", 1)[0]
    assert [p.name for p in folder.iterdir()] == [KEY.rsplit("/", 1)[1]]  # no temporaries left behind
    assert (fs_store.root / KEY).read_bytes().startswith(OBJECT_MAGIC)


def test_an_expired_object_is_not_returned_and_the_sweep_removes_it(fs_store, put_expired):
    run(put_expired(fs_store, KEY))
    run(fs_store.put("fresh/layout_det_res_0.jpg", b"new", "image/jpeg", TTL_S))
    assert run(fs_store.get(KEY)) is None
    assert (fs_store.root / KEY).exists()  # refused before any sweep
    assert run(fs_store.sweep_expired()) == 1
    assert not (fs_store.root / KEY.split("/")[0]).exists()  # its emptied folders went with it
    assert run(fs_store.get("fresh/layout_det_res_0.jpg")).data == b"new"
    assert (fs_store.root / SIGNING_KEY_FILE).exists()
    assert run(fs_store.sweep_expired()) == 0


def test_two_replicas_sweeping_at_once_remove_each_object_once(tmp_path, put_expired):
    stores = [FilesystemStore(tmp_path / "shared", TTL_S, signing_key_env=None) for _ in range(2)]
    for index in range(50):
        run(put_expired(stores[0], f"log{index}/layout_det_res_0.jpg"))

    async def both() -> list[int]:
        return await asyncio.gather(*(store.sweep_expired() for store in stores))

    assert sum(run(both())) == 50
    assert [p.name for p in (tmp_path / "shared").iterdir()] == [SIGNING_KEY_FILE]


def test_the_sweep_removes_stale_temporaries_only(fs_store):
    stale, fresh = fs_store.root / f"{TEMP_PREFIX}stale", fs_store.root / f"{TEMP_PREFIX}fresh"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"being written")
    long_ago = time.time() - STALE_TEMP_AGE_S - 1
    os.utime(stale, (long_ago, long_ago))
    assert run(fs_store.sweep_expired()) == 0
    assert not stale.exists() and fresh.exists()


def test_files_that_are_not_objects_are_neither_served_nor_swept(fs_store):
    foreign = fs_store.root / "log" / "notes.txt"
    foreign.parent.mkdir()
    foreign.write_bytes(b"not an object of the store")
    assert run(fs_store.get("log/notes.txt")) is None
    assert run(fs_store.sweep_expired()) == 0
    assert foreign.exists()


@pytest.fixture
def outside(tmp_path: Path) -> FilesystemStore:
    """Another store's root beside ours, holding a valid, unexpired object: what a symlink could lead to."""
    store = FilesystemStore(tmp_path / "outside", TTL_S, signing_key_env=None)
    run(store.put("secret/x.jpg", b"secret", "image/jpeg", TTL_S))
    return store


def test_a_symlinked_folder_under_the_root_leads_nowhere(fs_store, outside):
    (fs_store.root / "evil").symlink_to(outside.root)
    assert run(fs_store.get("evil/secret/x.jpg")) is None
    with pytest.raises(OSError):
        run(fs_store.put("evil/planted.jpg", b"x", "image/jpeg", TTL_S))
    run(fs_store.delete("evil/secret/x.jpg"))
    run(fs_store.sweep_expired())
    assert (outside.root / "secret" / "x.jpg").exists()
    assert not (outside.root / "planted.jpg").exists()
    assert (fs_store.root / "evil").is_symlink()


def test_a_symlinked_file_under_the_root_is_not_an_object(fs_store, outside):
    (fs_store.root / "log").mkdir()
    (fs_store.root / "log" / "x.jpg").symlink_to(outside.root / "secret" / "x.jpg")
    assert run(fs_store.get("log/x.jpg")) is None
    run(fs_store.delete("log/x.jpg"))  # removes the link, not its target
    assert not (fs_store.root / "log" / "x.jpg").is_symlink()
    assert (outside.root / "secret" / "x.jpg").exists()


def test_a_put_over_a_planted_symlink_replaces_the_link_not_its_target(fs_store, outside):
    (fs_store.root / "log").mkdir()
    (fs_store.root / "log" / "x.jpg").symlink_to(outside.root / "secret" / "x.jpg")
    run(fs_store.put("log/x.jpg", b"ours", "image/jpeg", TTL_S))
    assert run(fs_store.get("log/x.jpg")).data == b"ours"
    assert run(outside.get("secret/x.jpg")).data == b"secret"


def test_a_planted_fifo_is_refused_without_blocking(fs_store):
    (fs_store.root / "log").mkdir()
    os.mkfifo(fs_store.root / "log" / "x.jpg")
    assert run(asyncio.wait_for(fs_store.get("log/x.jpg"), timeout=5)) is None
