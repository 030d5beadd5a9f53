"""Debian's Chromium through Playwright, as the browser tests drive it; screenshots go under build/ only."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORD, require

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A test run leaves the tracked tree as it was: docs/screenshots/ changes only through scripts/screenshots.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@contextmanager
def launched_chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    require(CHROMIUM.exists(), "Chromium is not installed (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the test's ORM calls are synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def new_page(browser: Any, width: int = 1280, height: int = 900, **options: Any) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height}, **options)
    # A busy machine (two cores shared with other test runs) can be slow; a wait still has an end.
    context.set_default_timeout(60_000)
    return context.new_page()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def signed_in(browser: Any, base: str, username: str, width: int = 1280) -> Any:
    """A new page signed in as USERNAME through the login form, on the dashboard."""
    page = new_page(browser, width=width)
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


def poll_page(page: Any, done: Callable[[Any], bool], what: str, deadline_seconds: float = 60) -> None:
    """Reload PAGE until DONE(page) holds (a worker in another process is doing something); fail after
    the deadline with what was awaited and what the page showed."""
    deadline = time.monotonic() + deadline_seconds
    while not done(page):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what}: not seen within {deadline_seconds} s on {page.url}:\n{page.inner_text('main')[:3000]}"
            )
        page.wait_for_timeout(250)
        page.reload()
