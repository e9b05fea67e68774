"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by Playwright, never a download.

`playwright install` is never run (no browser downloads): Playwright's Python
package drives the system Chromium through ``executable_path``. Without
/usr/bin/chromium (a laptop) the browser tests skip and say why; CI installs
Debian's ``chromium`` (.ci/run), so they run there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("LIVEROOM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real headless Chromium (/usr/bin/chromium) against a "
                                       "real dashboard server; skipped when Chromium is not installed")


@pytest.fixture
async def chromium():
    """A launched headless Chromium (Playwright async API, in the test's own event loop)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run the "
                    "browser tests")
    async_api = pytest.importorskip("playwright.async_api", reason="the playwright package is not installed")
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
