"""The `loadtest` command against a small local server with known behaviour: bounded runs, the request mix,
results and plots, SLO exit codes, and targets it refuses."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from loadtest.cli import SLO_MISSED, USAGE, main
from loadtest.mix import Mix
from loadtest.report import load_result
from tests.service.conftest import blank_pdf

# The server's answer time on /slow; every other request on /flaky is a 503.
SERVER_LATENCY_S = 0.05


@dataclass
class Seen:
    requests: list[dict] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    seen: Seen

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.seen.lock:
            self.seen.requests.append(body)
            self.seen.authorizations.append(self.headers.get("Authorization"))
            count = len(self.seen.requests)
        time.sleep(SERVER_LATENCY_S)
        failing = self.path == "/flaky" and count % 2 == 0
        status = 503 if failing else 200
        envelope = {"logId": "x", "errorCode": 503, "errorMsg": "busy"} if failing else {"logId": "x", "errorCode": 0}
        payload = json.dumps(envelope).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if failing:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Seen]]:
    seen = Seen()
    handler = type("Handler", (_Handler,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("docs")
    page = np.full((60, 80, 3), 255, np.uint8)
    (directory / "page.png").write_bytes(cv2.imencode(".png", page)[1].tobytes())
    (directory / "three.pdf").write_bytes(blank_pdf(3))
    frames = [Image.new("L", (40, 30), 255) for _ in range(2)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "TIFF", save_all=True, append_images=frames[1:])
    (directory / "scan.tiff").write_bytes(buffer.getvalue())
    (directory / "notes.txt").write_text("not a document")
    return directory


def _run(url: str, docs: Path, out: Path, *extra: str) -> int:
    return main(["run", url, "--docs", str(docs), "--out", str(out), "--label", "r", *extra])


def test_the_mix_reads_pdfs_and_images_with_their_page_counts(docs):
    mix = Mix.from_paths([docs], {"visualize": False}, weight_by="pages")
    assert [(Path(d.name).name, d.pages, d.weight) for d in mix.documents] == [
        ("page.png", 1, 1.0), ("scan.tiff", 2, 2.0), ("three.pdf", 3, 3.0)]
    body = json.loads(mix.documents[2].body)
    assert body["fileType"] == 0 and body["visualize"] is False
    picks = mix.picks(seed=1)
    names = [Path(next(picks).name).name for _ in range(600)]
    assert 0.4 < names.count("three.pdf") / len(names) < 0.6


def test_a_closed_loop_stops_at_the_request_cap_and_reports_every_request(server, docs, tmp_path, capsys):
    url, seen = server
    before = len(seen.requests)
    assert _run(url + "/", docs, tmp_path, "--path", "/slow", "--concurrency", "1,2", "--max-requests", "5",
                "--warmup", "2") == 0
    assert len(seen.requests) - before == 2 + 5 + 5
    result = load_result(tmp_path / "r.json")
    assert [p.load for p in result.points] == [1, 2]
    for point in result.points:
        summary = point.summary
        assert summary.requests == summary.ok == 5
        assert summary.latency_s["p50"] >= SERVER_LATENCY_S
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = capsys.readouterr().out
    assert "p99 s" in table and "req/s" in table


def test_a_run_stops_at_its_duration(server, docs, tmp_path):
    url, _ = server
    started = time.monotonic()
    assert _run(url, docs, tmp_path, "--path", "/slow", "--concurrency", "2", "--duration", "1") == 0
    assert time.monotonic() - started < 5
    (point,) = load_result(tmp_path / "r.json").points
    # 2 clients x 1 s / 0.05 s per answer, less the run's own overhead.
    assert 4 <= point.summary.requests <= 2 * 1 / SERVER_LATENCY_S + 2
    assert all(s.sent_s < 1 for s in point.samples)


def test_an_open_loop_offers_its_rate_and_counts_errors_by_status(server, docs, tmp_path, capsys):
    url, _ = server
    assert _run(url, docs, tmp_path, "--path", "/flaky", "--rate", "40", "--duration", "1") == 0
    (point,) = load_result(tmp_path / "r.json").points
    summary = point.summary
    assert 20 <= summary.requests <= 60
    assert summary.errors == {"503": summary.requests - summary.ok} and summary.ok > 0
    assert {s.retry_after for s in point.samples if s.status == 503} == {"1"}
    assert "errors at 40: 503:" in capsys.readouterr().out


def test_slo_mode_exits_non_zero_only_when_a_target_is_missed(server, docs, tmp_path, capsys):
    url, _ = server
    common = ("--path", "/flaky", "--max-requests", "6", "--concurrency", "2")
    assert _run(url, docs, tmp_path, *common, "--max-p99", "10") == 0
    assert _run(url, docs, tmp_path, *common, "--max-p99", "0.001") == SLO_MISSED
    assert "SLO missed: load 2: p99" in capsys.readouterr().out
    assert _run(url, docs, tmp_path, *common, "--max-error-rate", "0.9") == 0
    assert _run(url, docs, tmp_path, *common, "--max-error-rate", "0.1") == SLO_MISSED
    assert "error rate 0.500 > 0.1" in capsys.readouterr().out


def test_the_token_is_sent_as_paddleocr_clients_send_it(server, docs, tmp_path, monkeypatch):
    url, seen = server
    monkeypatch.setenv("LOADTEST_TOKEN", "s3cret")
    before = len(seen.requests)
    assert _run(url, docs, tmp_path, "--path", "/slow", "--max-requests", "2") == 0
    assert seen.authorizations[before:] == ["token s3cret"] * 2


def test_targets_that_are_not_loopback_are_refused_unless_allowed(docs, tmp_path, capsys):
    assert _run("http://192.0.2.10:8080", docs, tmp_path, "--max-requests", "1") == USAGE
    assert "not a loopback address" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_plot_draws_several_results_in_one_figure(server, docs, tmp_path):
    url, _ = server
    for label in ("a", "b"):
        assert main(["run", url, "--docs", str(docs), "--out", str(tmp_path), "--label", label, "--path", "/slow",
                     "--concurrency", "1,2", "--max-requests", "3"]) == 0
    figure = tmp_path / "both.png"
    assert main(["plot", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out", str(figure)]) == 0
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
