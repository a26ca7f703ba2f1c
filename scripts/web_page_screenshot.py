"""Screenshots the web page (`GET /`) after it has shown a real document: the picture in the README.

    .venv/bin/python scripts/web_page_screenshot.py                       # starts configs/local.yaml itself
    .venv/bin/python scripts/web_page_screenshot.py --url http://127.0.0.1:8080

Drives Debian's chromium through Playwright, as tests/service/test_web_page.py does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from loadtest.service import running_service

REPO = Path(__file__).resolve().parents[1]
DOCUMENT = REPO.parent / "shared" / "eval" / "docling_pdf" / "sources" / "2305.03393v1-pg9.pdf"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running service; without it, configs/local.yaml is served for the shot")
    parser.add_argument("--document", type=Path, default=DOCUMENT)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "web-page.png")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("no chromium: apt-get install chromium (scripts/setup.sh does)")
    with ExitStack() as stack:
        url = args.url or stack.enter_context(running_service(Path(stack.enter_context(tempfile.TemporaryDirectory()))))
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=["--no-sandbox"] if os.geteuid() == 0 else [])
        page = browser.new_page(base_url=url, viewport={"width": 1400, "height": 1000})
        page.goto("/")
        page.set_input_files("#file", args.document)
        page.click("#parse")
        expect(page.locator("#status")).to_contain_text("Done", timeout=300_000)
        expect(page.locator(".page .figure img")).to_have_js_property("complete", True)
        page.screenshot(path=args.out)
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
