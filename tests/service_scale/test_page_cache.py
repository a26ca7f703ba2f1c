"""The page cache served for real: a page sent again skips the stages on either ingress replica, and the cache never
answers a request whose options, or whose client, differ."""

from __future__ import annotations

import io
import uuid

import httpx
import pytest
import redis
from PIL import Image, ImageDraw
from prometheus_client.parser import text_string_to_metric_families

from serve.metrics import scrape_sum
from tests.deploy_manifests import dashboard_metric_names, load_dashboard
from tests.service.conftest import PAGE_CACHE_SERIES, b64, poll, when_quiet

pytestmark = pytest.mark.service

CACHE = PAGE_CACHE_SERIES
LAYOUT_CALLS = "ray_ocrvl_stage_duration_seconds_count"
# Replicas report their metrics every couple of seconds.
METRICS_WAIT_S = 30
# Enough requests that both ingress replicas answer some (each is picked with even odds: all on one, 2 in 65,536).
SENDS = 16


def a_page() -> str:
    """A page no other test sends: its text is new every time."""
    image = Image.new("RGB", (900, 500), "white")
    draw = ImageDraw.Draw(image)
    draw.text((60, 80), "Harbour traffic report", fill="black", font_size=44)
    draw.text((60, 200), f"Reference {uuid.uuid4().hex[:12]}", fill="black", font_size=32)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return b64(buffer.getvalue())


def figures(app) -> dict[str, float]:
    return {
        "hit": scrape_sum(app.metrics_url, CACHE, result="hit"),
        "miss": scrape_sum(app.metrics_url, CACHE, result="miss"),
        "layout": scrape_sum(app.metrics_url, LAYOUT_CALLS, stage="layout"),
    }


def settled(app, expected: dict[str, float]) -> dict[str, float]:
    """The figures once they reach `expected` (which the replicas report a little later) and hold still."""
    poll(lambda: figures(app), lambda now: all(now[k] >= v for k, v in expected.items()), METRICS_WAIT_S)
    return when_quiet(lambda: figures(app), app.metrics_url)


def test_a_page_sent_again_comes_back_the_same_without_the_stages(app):
    page = {"file": a_page(), "fileType": 1}
    first = app.parse("north", page)
    before = settled(app, {})
    again = app.parse("north", page)
    after = settled(app, {"hit": before["hit"] + 1})
    assert after == {**before, "hit": before["hit"] + 1}
    [read], [recalled] = first["layoutParsingResults"], again["layoutParsingResults"]
    assert recalled["prunedResult"] == read["prunedResult"]
    assert recalled["markdown"] == read["markdown"]
    assert "Harbour traffic report" in recalled["markdown"]["text"]


def test_both_ingress_replicas_answer_from_the_one_cache(app):
    page = {"file": a_page(), "fileType": 1}
    app.parse("north", page)
    before = _hits_by_replica(app.metrics_url)
    for _ in range(SENDS):
        app.parse("north", page)

    def new_hits() -> dict[str, float]:
        return {replica: hits - before.get(replica, 0) for replica, hits in _hits_by_replica(app.metrics_url).items()
                if hits > before.get(replica, 0)}

    per_replica = poll(new_hits, lambda hits: sum(hits.values()) >= SENDS, METRICS_WAIT_S)
    assert len(per_replica) == 2, per_replica


@pytest.mark.parametrize("changed", [{"useLayoutDetection": False}, {"markdownIgnoreLabels": ["paragraph_title"]}])
def test_a_request_whose_options_differ_is_read_afresh(app, changed):
    page = {"file": a_page(), "fileType": 1}
    app.parse("north", page)
    before = settled(app, {})
    result = app.parse("north", {**page, **changed})
    after = settled(app, {"miss": before["miss"] + 1})
    assert after["hit"] == before["hit"] and after["miss"] == before["miss"] + 1
    [page_result] = result["layoutParsingResults"]
    settings = page_result["prunedResult"]["model_settings"]
    if "useLayoutDetection" in changed:
        assert settings["use_layout_detection"] is False
    else:
        assert settings["markdown_ignore_labels"] == ["paragraph_title"]


def test_another_clients_page_is_never_answered_from_the_cache(app):
    page = {"file": a_page(), "fileType": 1}
    app.parse("north", page)
    before = settled(app, {})
    app.parse("south", page)
    after = settled(app, {"miss": before["miss"] + 1, "layout": before["layout"] + 1})
    assert after["hit"] == before["hit"]


def test_page_cache_false_reads_the_page_again_and_looks_nothing_up(app):
    page = {"file": a_page(), "fileType": 1}
    app.parse("north", page)
    before = settled(app, {})
    app.parse("north", {**page, "pageCache": False})
    after = settled(app, {"layout": before["layout"] + 1})
    assert (after["hit"], after["miss"]) == (before["hit"], before["miss"])


def test_the_private_cache_redis_is_bounded_and_evicts_the_least_recently_used(app):
    client = redis.Redis(unix_socket_path=str(app.workdir / "cache-redis" / "redis.sock"))
    assert int(client.config_get("maxmemory")["maxmemory"]) == 512 * 1024 * 1024
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
    assert client.config_get("appendonly")["appendonly"] == "no"


def _hits_by_replica(metrics_url: str) -> dict[str, float]:
    hits: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(metrics_url, timeout=30).text):
        for sample in family.samples:
            if sample.name == CACHE and sample.labels.get("result") == "hit":
                hits[sample.labels["replica"]] = hits.get(sample.labels["replica"], 0) + sample.value
    return hits


def test_the_dashboards_page_cache_panel_queries_what_the_service_exports(app):
    app.parse("north", {"file": a_page(), "fileType": 1})
    assert PAGE_CACHE_SERIES in dashboard_metric_names(load_dashboard())
    poll(lambda: scrape_sum(app.metrics_url, CACHE, result="stored"), lambda stored: stored > 0, METRICS_WAIT_S)
