"""The page cache (serve/page_cache.py): what makes two pages the same entry, what an entry brings back, and that
a Redis that is down or holds garbage is a miss counted as an error, never a failure. Every test runs against a
real redis-server (Debian's package) on a Unix socket."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydantic
import pytest
import redis

from layout.postprocess import LayoutBox
from layout.text_layer import TextLayer
from layout.types import Block, TextLine
from serve.backends.rapid_ocr import RapidOcrRecognition
from serve.config import PageCacheConfig, ServiceConfig
from serve.local_redis import LocalRedis
from serve.page_cache import PageCache
from serve.pipeline import DocumentPipeline, ParseOptions, ReadPage
from serve.protocol import LayoutParsingRequest
from tests.redis_server import running_redis
from tests.unit.test_vl_answers import Untouchable

REPO = Path(__file__).resolve().parents[2]
CAPABILITIES = RapidOcrRecognition.capabilities


def _page() -> np.ndarray:
    """A small page with some ink: a dark rectangle on light grey."""
    page = np.full((40, 30, 3), 200, np.uint8)
    page[10:20, 5:25] = 0
    return page


class Recorder:
    """The metrics sink: the results the cache counted, in order."""

    def __init__(self) -> None:
        self.results: list[str] = []

    def count(self, result: str) -> None:
        self.results.append(result)


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with running_redis(tmp_path) as started:
        yield started


def _config(url: str, **page_cache) -> ServiceConfig:
    return ServiceConfig(page_cache={"enabled": True, "redis_url": url, **page_cache})


def _options(config: ServiceConfig, client: str | None = None, **request) -> ParseOptions:
    return ParseOptions.from_request(LayoutParsingRequest(file="x", **request), config, CAPABILITIES, client)


def _read_page() -> ReadPage:
    leader = Block(label="text", bbox=(10, 10, 200, 40), content="Harbour traffic — 1.",
                   polygon=((10, 10), (200, 10), (200, 40), (10, 40)), block_id=0, block_order=1)
    follower = Block(label="image", bbox=(10, 50, 200, 300), content="", block_id=1, group_id=0,
                     image_path="imgs/a.jpg", group_leader=leader)
    return ReadPage(
        width=800, height=1000, blocks=[leader, follower],
        boxes=[LayoutBox(cls_id=22, label="text", score=0.93, coordinate=(10, 10, 200, 40), order=1)],
        angle=None, spotting=None, text_source=None,
        markdown_images={"imgs/a.jpg": b"\xff\xd8 binary"}, output_images={}, input_image=None,
    )


# --- keys ---------------------------------------------------------------------------------------------------------


def test_a_batch_request_and_an_interactive_one_share_the_pages_entry(url):
    config = _config(url)
    cache = PageCache(config, Recorder())
    page = _page()
    assert cache.key(page, None, _options(config, priority="batch")) == cache.key(page, None, _options(config))


def test_the_key_follows_the_page_the_options_the_scope_and_the_service(url):
    config = _config(url)
    cache = PageCache(config, Recorder())
    page = _page()
    options = _options(config)
    key = cache.key(page, None, options)

    assert cache.key(page.copy(), None, _options(config)) == key
    touched = page.copy()
    touched[0, 0, 0] = 199
    assert cache.key(touched, None, options) != key
    layer = TextLayer(lines=(TextLine((5, 10, 25, 20), "ink", 1.0),), doubtful=())
    assert cache.key(page, layer, options) != key
    assert cache.key(page, layer, options) == cache.key(page, TextLayer(lines=layer.lines, doubtful=()), options)

    assert cache.key(page, None, _options(config, markdownIgnoreLabels=["text"])) != key
    assert cache.key(page, None, _options(config, visualize=True)) != cache.key(
        page, None, _options(config, visualize=False))

    assert cache.key(page, None, _options(config, client="a")) != cache.key(page, None, _options(config, client="b"))

    other_service = ServiceConfig(page_cache={"enabled": True, "redis_url": url},
                                  recognition={"backend_options": {"detection_max_side": 1280}})
    assert PageCache(other_service, Recorder()).key(page, None, _options(other_service)) != key

    shared = _config(url, shared_across_clients=True)
    shared_cache = PageCache(shared, Recorder())
    assert shared_cache.key(page, None, _options(shared, client="a")) == shared_cache.key(
        page, None, _options(shared, client="b"))


_KEY_SCRIPT = """
import numpy as np
from serve.backends.rapid_ocr import RapidOcrRecognition
from serve.config import ServiceConfig
from serve.page_cache import PageCache
from serve.pipeline import ParseOptions
from serve.protocol import LayoutParsingRequest

class Recorder:
    def count(self, result):
        pass

config = ServiceConfig(page_cache={"enabled": True, "redis_url": "redis://127.0.0.1:1/0"})
page = np.full((40, 30, 3), 200, np.uint8)
page[10:20, 5:25] = 0
options = ParseOptions.from_request(LayoutParsingRequest(file="x"), config, RapidOcrRecognition.capabilities)
print("KEY=" + PageCache(config, Recorder()).key(page, None, options))
"""


def test_the_key_is_the_same_in_another_process_whatever_its_hash_seed():
    config = ServiceConfig(page_cache={"enabled": True, "redis_url": "redis://127.0.0.1:1/0"})
    here = PageCache(config, Recorder()).key(_page(), None, _options(config))

    def key_with_seed(seed: str) -> str:
        done = subprocess.run([sys.executable, "-c", _KEY_SCRIPT], env={**os.environ, "PYTHONHASHSEED": seed},
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        [line] = [line for line in done.stdout.splitlines() if line.startswith("KEY=")]
        return line.removeprefix("KEY=")

    assert key_with_seed("1") == key_with_seed("2") == here


# --- entries ------------------------------------------------------------------------------------------------------


def test_a_page_put_comes_back_equal_without_its_group_leaders(url):
    recorder = Recorder()
    cache = PageCache(_config(url), recorder)
    stored = _read_page()

    async def go():
        try:
            await cache.put("ocrvl:pages:test:known", stored)
            found = await cache.get("ocrvl:pages:test:known")
            unknown = await cache.get("ocrvl:pages:test:unknown")
        finally:
            await cache.close()
        return found, unknown

    found, unknown = asyncio.run(go())
    assert found == stored
    assert found.blocks[0].polygon == ((10, 10), (200, 10), (200, 40), (10, 40))
    assert [b.group_leader for b in found.blocks] == [None, None]
    assert found.markdown_images == {"imgs/a.jpg": b"\xff\xd8 binary"}
    assert found.boxes == [LayoutBox(22, "text", 0.93, (10, 10, 200, 40), 1)]
    assert unknown is None
    assert recorder.results == ["stored", "hit", "miss"]
    # What was put is left as it was.
    assert stored.blocks[1].group_leader is stored.blocks[0]


def test_an_entry_larger_than_max_entry_bytes_is_not_kept(url):
    recorder = Recorder()
    cache = PageCache(_config(url, max_entry_bytes=100), recorder)

    async def go():
        try:
            await cache.put("ocrvl:pages:test:big", _read_page())
            return await cache.get("ocrvl:pages:test:big")
        finally:
            await cache.close()

    assert asyncio.run(go()) is None
    assert recorder.results == ["too_large", "miss"]
    with redis.Redis.from_url(url) as client:
        assert client.exists("ocrvl:pages:test:big") == 0


def _get_and_put(cache: PageCache) -> ReadPage | None:
    async def go():
        try:
            found = await cache.get("ocrvl:pages:test:k")
            await cache.put("ocrvl:pages:test:k", _read_page())
            return found
        finally:
            await cache.close()

    return asyncio.run(go())


def test_a_redis_that_is_not_there_is_a_miss_counted_as_an_error(tmp_path):
    recorder = Recorder()
    cache = PageCache(_config(f"unix://{tmp_path}/nothing.sock?db=0"), recorder)
    assert _get_and_put(cache) is None
    assert recorder.results == ["error", "error"]


def test_a_redis_that_stopped_is_a_miss_counted_as_an_error(tmp_path):
    server = LocalRedis(tmp_path / "r", persistent=False)
    with server as started:
        recorder = Recorder()
        cache = PageCache(_config(started), recorder)
        asyncio.run(cache.put("ocrvl:pages:test:k", _read_page()))
        assert recorder.results == ["stored"]
    assert not server.running()
    recorder = Recorder()
    cache = PageCache(_config(started), recorder)
    assert _get_and_put(cache) is None
    assert recorder.results == ["error", "error"]


@pytest.mark.parametrize("garbage", [b"not json", b'{"page": {"width": 1}}', b"\xff\xfe"])
def test_an_entry_this_version_cannot_read_is_a_miss_counted_as_an_error(url, garbage):
    with redis.Redis.from_url(url) as client:
        client.set("ocrvl:pages:test:bad", garbage)
    recorder = Recorder()
    cache = PageCache(_config(url), recorder)

    async def go():
        try:
            return await cache.get("ocrvl:pages:test:bad")
        finally:
            await cache.close()

    assert asyncio.run(go()) is None
    assert recorder.results == ["error"]


# --- configuration ------------------------------------------------------------------------------------------------


def test_scope_partitions_by_client_unless_shared_or_off():
    on = PageCacheConfig(enabled=True)
    assert PageCacheConfig(enabled=False).scope(True, "x") is None
    assert PageCacheConfig(enabled=False).scope(None, None) is None
    assert on.scope(False, "x") is None
    assert on.scope(False, None) is None
    assert on.scope(None, None) == "shared"
    assert on.scope(True, None) == "shared"
    assert on.scope(None, "x") == "client:x"
    assert on.scope(True, "x") == "client:x"
    assert PageCacheConfig(enabled=True, shared_across_clients=True).scope(None, "x") == "shared"


def test_the_request_carries_the_scope():
    config = ServiceConfig(page_cache={"enabled": True})
    assert _options(config, client="x").page_cache == "client:x"
    assert _options(config).page_cache == "shared"
    assert _options(config, client="x", pageCache=False).page_cache is None
    assert _options(ServiceConfig(), client="x").page_cache is None


def test_the_cache_may_not_share_the_jobs_redis(tmp_path):
    same = str(tmp_path / "redis")
    with pytest.raises(pydantic.ValidationError, match="page_cache needs a Redis of its own"):
        ServiceConfig(page_cache={"enabled": True, "local_redis_dir": same},
                      jobs={"enabled": True, "local_redis_dir": same})
    ServiceConfig(page_cache={"enabled": True, "local_redis_dir": str(tmp_path / "cache")},
                  jobs={"enabled": True, "local_redis_dir": str(tmp_path / "jobs")})
    with pytest.raises(pydantic.ValidationError, match="page_cache needs a Redis of its own"):
        ServiceConfig(page_cache={"enabled": True, "redis_url": "redis://redis:6379/0"},
                      jobs={"enabled": True, "redis_url": "redis://redis:6379/0"})
    ServiceConfig(page_cache={"enabled": True, "redis_url": "redis://cache:6379/0"},
                  jobs={"enabled": True, "redis_url": "redis://jobs:6379/0"})
    # Either one off: nothing to share.
    ServiceConfig(page_cache={"enabled": False, "local_redis_dir": same}, jobs={"enabled": True, "local_redis_dir": same})
    ServiceConfig(page_cache={"enabled": True, "local_redis_dir": same}, jobs={"enabled": False, "local_redis_dir": same})


def test_a_local_cache_redis_is_bounded_and_evicts_least_recently_used(tmp_path):
    with LocalRedis(tmp_path / "r", persistent=False, max_memory_mb=5) as started:
        client = redis.Redis.from_url(started)
        try:
            assert client.config_get("maxmemory") == {"maxmemory": str(5 * 1024 * 1024)}
            assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
            assert client.config_get("appendonly") == {"appendonly": "no"}
        finally:
            client.close()


# --- the pipeline -------------------------------------------------------------------------------------------------


def _inked_page() -> np.ndarray:
    page = np.full((1000, 800, 3), 255, np.uint8)
    page[600:640, 600:700] = 0
    return page


def test_the_pipeline_answers_a_page_read_before_without_either_stage(url):
    config = _config(url)
    recorder = Recorder()
    cache = PageCache(config, recorder)
    pipeline = DocumentPipeline(config, Untouchable(), Untouchable(), cache)
    page = _inked_page()
    options = _options(config, visualize=False)
    stored = _read_page()

    async def go():
        try:
            await cache.put(cache.key(page, None, options), stored)
            return await pipeline._read_or_recall(page, options, None)
        finally:
            await cache.close()

    assert asyncio.run(go()) == stored
    assert recorder.results == ["stored", "hit"]


def test_a_request_that_declines_the_cache_is_read_by_the_stages(url):
    config = _config(url)
    recorder = Recorder()
    cache = PageCache(config, recorder)
    pipeline = DocumentPipeline(config, Untouchable(), Untouchable(), cache)
    page = _inked_page()
    declined = _options(config, visualize=False, pageCache=False)
    assert declined.page_cache is None
    cached = _options(config, visualize=False)

    async def go():
        try:
            # The page is in the cache under the key a request using the cache would look up.
            await cache.put(cache.key(page, None, cached), _read_page())
            await pipeline._read_or_recall(page, declined, None)
        finally:
            await cache.close()

    with pytest.raises(AssertionError, match="the layout stage was called"):
        asyncio.run(go())
    assert recorder.results == ["stored"]
