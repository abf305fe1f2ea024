"""Chromium for Playwright as a Dagster resource, and where the sandbox platform is."""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

DEFAULT_SANDBOX_URL = "http://127.0.0.1:8765"


class BrowserResource(dg.ConfigurableResource):
    """A headless Chromium (``postpulse.browser.launch_args``: Playwright's own or the system
    one, ``POSTPULSE_CHROMIUM`` to name one). ``sandbox_url`` defaults to ``POSTPULSE_SANDBOX_URL``
    (set by ``postpulse up``), else http://127.0.0.1:8765, read at run time."""

    headless: bool = True
    sandbox_url: str | None = None
    timeout_ms: int = 15000

    def base_url(self) -> str:
        return (self.sandbox_url or os.environ.get("POSTPULSE_SANDBOX_URL") or DEFAULT_SANDBOX_URL).rstrip(
            "/"
        )

    @contextmanager
    def launch(self) -> Iterator[object]:
        from playwright.sync_api import sync_playwright

        from postpulse.browser import launch_args

        with sync_playwright() as pw:
            browser = pw.chromium.launch(**launch_args(headless=self.headless))
            try:
                yield browser
            finally:
                browser.close()
