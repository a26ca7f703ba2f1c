"""`ocrvl parse` (serve/parse_cli.py) run as users run it, a process of its own, against the package's app: a folder
of dev documents written as the documented client flow writes them, a run killed halfway resumed with nothing
redone or missing, 429s waited out, a big PDF through the Job API, and an exit status for each kind of failure."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from serve.metrics import scrape_sum
from serve.parse_cli import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, RESULT_FILE
from tests.service.conftest import ADMITTED, METRICS_WAIT_S, blank_pdf, poll, report_png, wait_for

pytestmark = pytest.mark.service

CLI_TIMEOUT_S = 900
# Real dev documents: a one-page PDF with pictures, a scanned page (JPEG), a PNG page.
DEV_DOCUMENTS = ("docling_pdf/sources/amt_handbook_sample.pdf", "ndl_docl_kindai/1029114_5.jpg",
                 "doclaynet_sample/132a855ee8b23533d8ae69af0049c038171a06ddfcac892c3c6d7e6b4091c642.png")
RESUMED_DOCUMENTS = 6
BIG_PDF_PAGES = 12
JOB_PAGES = 4
MARKDOWN_IMAGE = re.compile(r'(?:src="|\]\()([^")]+\.jpg)')


def ocrvl_parse(*args: str, server: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "serve.cli", "parse", "--server", server, *args],
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def _complete(out: Path, name: str) -> dict:
    return json.loads((out / name / RESULT_FILE).read_text())


def test_a_folder_of_dev_documents_is_written_as_the_client_flow_writes_it(service_url, eval_dir, tmp_path):
    folder = tmp_path / "in" / "nested"
    folder.mkdir(parents=True)
    for document in DEV_DOCUMENTS:
        shutil.copy(eval_dir / document, folder)
    out = tmp_path / "out"
    run = ocrvl_parse(str(tmp_path / "in"), "-o", str(out), server=service_url)
    assert run.returncode == EXIT_OK, run.stderr
    for document in DEV_DOCUMENTS:
        name = Path(document).stem
        result = _complete(out, name)
        pages = result["layoutParsingResults"]
        assert pages and result["dataInfo"]
        for index, page in enumerate(pages):
            markdown = (out / name / f"page_{index}.md").read_text()
            assert markdown == page["markdown"]["text"] and markdown.strip()
            for image in [*page["markdown"].get("images", {}), *MARKDOWN_IMAGE.findall(markdown)]:
                with Image.open(out / name / image) as picture:
                    picture.verify()
            # visualize is on in configs/local.yaml: the layout pictures are written too.
            for kind in page.get("outputImages", {}):
                with Image.open(out / name / f"{kind}_{index}.jpg") as picture:
                    picture.verify()
        whole = (out / name / f"{name}.md").read_text()
        assert all(page["markdown"]["text"] in whole for page in pages)


def test_a_run_killed_halfway_resumes_without_redoing_or_missing_anything(service_url, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(RESUMED_DOCUMENTS):
        (folder / f"report{n}.png").write_bytes(report_png())
    out = tmp_path / "out"
    command = [sys.executable, "-m", "serve.cli", "parse", str(folder), "-o", str(out), "--server", service_url,
               "--concurrency", "1", "--set", "visualize=false"]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def done() -> list[Path]:
        return sorted(out.glob(f"*/{RESULT_FILE}"))

    finished = poll(done, lambda found: len(found) >= RESUMED_DOCUMENTS // 2, CLI_TIMEOUT_S)
    first.send_signal(signal.SIGKILL)
    first.wait()
    finished = done()
    assert len(finished) < RESUMED_DOCUMENTS
    written = {path: path.stat().st_mtime_ns for path in finished}
    again = ocrvl_parse(str(folder), "-o", str(out), "--set", "visualize=false", server=service_url)
    assert again.returncode == EXIT_OK, again.stderr
    assert f"{len(finished)} skipped" in again.stdout
    assert len(done()) == RESUMED_DOCUMENTS
    assert all(path.stat().st_mtime_ns == mtime for path, mtime in written.items())


def test_answers_429_are_waited_out_and_every_document_gets_through(service_url, metrics_url, tmp_path):
    documents = 3 * ADMITTED
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(documents):
        (folder / f"r{n}.png").write_bytes(report_png())

    def refused() -> float:
        return scrape_sum(metrics_url, "ray_ocrvl_http_requests_total", endpoint="/layout-parsing", status="429")

    before = refused()
    run = ocrvl_parse(str(folder), "-o", str(tmp_path / "out"), "--concurrency", str(documents),
                      "--retries", "20", "--set", "visualize=false", server=service_url)
    assert run.returncode == EXIT_OK, run.stderr
    assert len(list((tmp_path / "out").glob(f"*/{RESULT_FILE}"))) == documents
    wait_for(lambda: refused() > before, METRICS_WAIT_S)


def test_a_big_pdf_goes_through_the_job_api_page_by_page(service_url, metrics_url, tmp_path):
    (tmp_path / "big.pdf").write_bytes(blank_pdf(BIG_PDF_PAGES))
    jobs_before = scrape_sum(metrics_url, "ray_ocrvl_jobs_submitted_total")
    run = ocrvl_parse(str(tmp_path / "big.pdf"), "-o", str(tmp_path / "out"), "--job-pages", str(JOB_PAGES),
                      server=service_url)
    assert run.returncode == EXIT_OK, run.stderr
    assert len(_complete(tmp_path / "out", "big")["layoutParsingResults"]) == BIG_PDF_PAGES
    assert all((tmp_path / "out" / "big" / f"page_{n}.md").is_file() for n in range(BIG_PDF_PAGES))
    wait_for(lambda: scrape_sum(metrics_url, "ray_ocrvl_jobs_submitted_total") > jobs_before, METRICS_WAIT_S)


def test_each_kind_of_failure_has_its_exit_status_and_the_servers_message(service_url, tmp_path):
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.7 this is not a PDF")
    good = tmp_path / "good.png"
    good.write_bytes(report_png())
    cases = [
        ((str(corrupt), str(good)), service_url, EXIT_FAILED, "damaged"),
        ((str(good),), "http://127.0.0.1:1", EXIT_UNREACHABLE, "Connection refused"),
        ((str(tmp_path / "missing.pdf"),), service_url, EXIT_USAGE, "no such file"),
        ((str(good), "--options", "{not json"), service_url, EXIT_USAGE, "--options is not JSON"),
        ((str(good), "--set", "useLayoutDetektion=false"), service_url, EXIT_USAGE, "useLayoutDetektion"),
    ]
    for n, (args, server, status, message) in enumerate(cases):
        run = ocrvl_parse(*args, "-o", str(tmp_path / f"out{n}"), "--retries", "0", server=server)
        assert run.returncode == status, (args, run.stdout, run.stderr)
        assert message in run.stderr and "Traceback" not in run.stderr, run.stderr
    # The good document of the first run was written; the corrupt one was not.
    assert (tmp_path / "out0" / "good" / RESULT_FILE).is_file()
    assert not (tmp_path / "out0" / "corrupt" / RESULT_FILE).exists()
