"""The Job API driven by the official CLI, `paddleocr api` (paddleocr 3.7) from the reference venv, against the app
of test_auth_and_quotas: a multi-page PDF by upload and by URL comes back page by page with its Markdown, and the
server's refusals come out as the CLI's one-line errors.

The CLI (paddleocr/_api_client/cli.py) wraps PaddleOCRClient: `--base_url` / `--token` (or PADDLEOCR_BASE_URL /
PADDLEOCR_ACCESS_TOKEN), `--model_type`, `--model`, `--file_path` | `--file_url`, typed option flags. It prints
`{"jobId", "pages": [{"markdownText", "markdownImages", "outputImages"}]}` as JSON to stdout, or to `--output`;
a call that fails is `Error: <message>` on stderr and exit 1 (`Authentication failed: …` for a 401/403,
`Bad request: …` for a 400, each followed by the server's `errorMsg`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.oracle.conftest import require_reference_venv
from tests.service_secured import test_jobs
from tests.service_secured.conftest import KEYS

pytestmark = pytest.mark.service

# test_jobs's documents (report.pdf: two pages) and the loopback server that serves them, as this module's fixtures.
documents, file_server = test_jobs.documents, test_jobs.file_server

TOKEN = KEYS["jobs"]
# Past the CLI's own --poll_timeout (600 s by default), so a slow job ends in the CLI's timeout error, not ours.
CLI_TIMEOUT_S = 660
SERVED_MODELS = "PaddleOCR-VL, PaddleOCR-VL-1.5, PaddleOCR-VL-1.6"


def paddleocr_api(secured, *args: str, token: str = TOKEN,
                  model_type: str = "doc_parsing") -> subprocess.CompletedProcess:
    """One run of the reference venv's `paddleocr api` console script against the served app."""
    cli = require_reference_venv().with_name("paddleocr")
    return subprocess.run(
        [str(cli), "api", "--model_type", model_type, "--base_url", secured.url, "--token", token, *args],
        capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
    )


def assert_report_pages(result: dict) -> None:
    """Both pages of report.pdf, each with the text drawn on it in its Markdown."""
    assert result["jobId"]
    first, second = result["pages"]
    assert "Quarterly Figures" in first["markdownText"] and "North 0" in first["markdownText"]
    assert "South 13" in second["markdownText"]


def error_line(run: subprocess.CompletedProcess) -> str:
    """The CLI's error: exit 1, one `Error: …` line last on stderr, nothing on stdout and no traceback."""
    assert run.returncode == 1 and run.stdout == "", (run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    return run.stderr.strip().splitlines()[-1]


def test_the_cli_parses_an_uploaded_pdf_and_prints_every_page_with_markdown(secured, documents):
    run = paddleocr_api(secured, "--file_path", str(documents / "report.pdf"))
    assert run.returncode == 0, run.stderr
    assert_report_pages(json.loads(run.stdout))


def test_the_cli_parses_a_pdf_by_url_into_its_output_file(secured, file_server, tmp_path: Path):
    output = tmp_path / "result.json"
    run = paddleocr_api(secured, "--file_url", f"{file_server}/report.pdf", "--output", str(output))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"Result saved to: {output}"
    assert_report_pages(json.loads(output.read_text(encoding="utf-8")))


def test_a_bad_token_is_the_clis_authentication_error_with_the_servers_message(secured, documents):
    run = paddleocr_api(secured, "--file_path", str(documents / "report.pdf"), token="not-a-key")
    assert error_line(run) == "Error: Authentication failed: Invalid API key"


# `--model` only takes the client's own model names (a made-up one is argparse's exit 2 before any request), so the
# unknown models are the client's OCR models, which this service does not run: PP-OCRv6 (`--model_type ocr`'s
# default) and PP-OCRv5. PP-StructureV3 never gets as far as a request: the CLI passes `use_layout_detection` to
# PPStructureV3Options, which has no such field (cli.py, `_execute_api`), and exits with that TypeError.
@pytest.mark.parametrize("model_args, model", [([], "PP-OCRv6"), (["--model", "PP-OCRv5"], "PP-OCRv5")],
                         ids=["default-ocr-model", "PP-OCRv5"])
def test_an_unknown_model_is_the_clis_bad_request_with_the_models_served(secured, documents, model_args, model):
    run = paddleocr_api(secured, "--file_path", str(documents / "report.pdf"), *model_args, model_type="ocr")
    assert error_line(run) == f"Error: Bad request: Unknown model '{model}'; this service runs {SERVED_MODELS}"


# The CLI's flags are typed (booleans, numbers, choices), so what it can send wrong is a value this server refuses:
# unwarping, which it has no model for (in `optionalPayload`), and a backwards page range (its own form field).
@pytest.mark.parametrize("option, message", [
    (["--use_doc_unwarping", "True"],
     "useDocUnwarping is not supported: this server has no document unwarping model"),
    (["--page_ranges", "2-1"], "pageRanges '2-1': '2-1' is not a range of pages from 1 on"),
], ids=["unwarping", "backwards-page-range"])
def test_an_option_the_server_refuses_is_the_clis_bad_request_with_the_reason(secured, documents, option, message):
    run = paddleocr_api(secured, "--file_path", str(documents / "report.pdf"), *option)
    assert error_line(run) == f"Error: Bad request: {message}"
