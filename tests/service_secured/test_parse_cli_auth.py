"""`ocrvl parse` against the app with API keys on: a refused key stops the run with its own exit status and the
server's message; a good key parses."""

from __future__ import annotations

import pytest

from serve.parse_cli import EXIT_OK, EXIT_UNREACHABLE, RESULT_FILE
from tests.service.conftest import report_png
from tests.service.test_parse_cli import ocrvl_parse
from tests.service_secured.conftest import KEYS

pytestmark = pytest.mark.service


def test_a_refused_key_stops_the_run_with_the_servers_message_and_a_good_one_parses(secured, tmp_path):
    for n in range(2):
        (tmp_path / f"page{n}.png").write_bytes(report_png())
    refused = ocrvl_parse(str(tmp_path / "page0.png"), str(tmp_path / "page1.png"), "-o", str(tmp_path / "out"),
                          "--token", "not-a-key", "--concurrency", "1", server=secured.url)
    assert refused.returncode == EXIT_UNREACHABLE, refused.stderr
    assert "Invalid API key" in refused.stderr and "Traceback" not in refused.stderr
    assert "not tried" in refused.stderr  # the second document was not sent with the same key
    parsed = ocrvl_parse(str(tmp_path / "page0.png"), "-o", str(tmp_path / "out"), "--token", KEYS["jobs"],
                         server=secured.url)
    assert parsed.returncode == EXIT_OK, parsed.stderr
    assert (tmp_path / "out" / "page0" / RESULT_FILE).is_file()
