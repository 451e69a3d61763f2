"""The local stack for the dashboard's tests, and headless Chromium driven by Playwright.

The browser is Debian's chromium (tests/web/install_browser.sh installs it); Playwright's
own browser downloads are never used. Without chromium the browser tests skip, except in
CI, where they must run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stack.local import LocalStack, StackInfo

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEZONE = "Asia/Tokyo"  # not the machine's: times on the page must follow the viewer's zone
LOCALE = "en-GB"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    # TRUST_APP_SERVICE_AUTH as behind App Service authentication: the principal header (which the
    # platform would set) names the submitter, the one way text of a caller's reaches the job list.
    overrides = {"POLL_INTERVAL_SECONDS": "2", "TRUST_APP_SERVICE_AUTH": "true"}
    with LocalStack(tmp_path_factory.mktemp("stack"), settings_overrides=overrides) as info:
        yield info


def ui_url(info: StackInfo) -> str:
    return f"{info.api_url}/ui/"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must install it (tests/web/install_browser.sh)")
        pytest.skip(f"{CHROMIUM} is not installed (tests/web/install_browser.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id=TIMEZONE, locale=LOCALE,
                              reduced_motion="reduce")
    ctx.set_default_timeout(20_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A refused request (a 401, a 404 for a route the API lacks) is logged by the browser itself;
    # anything else on the console, or an uncaught exception, is the page's own fault.
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    page.errors_ = errors
    return page


def sign_in(page: Any, info: StackInfo, hash_route: str = "#/jobs") -> None:
    page.goto(ui_url(info) + hash_route)
    page.locator("#key-input").fill(info.function_key)
    page.locator("#key-save").click()
    page.locator("#key-dialog").wait_for(state="hidden")


def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """docs/screenshots/<name>.png when WEB_SCREENSHOTS=1 (to refresh the README's pictures), else tmp."""
    folder = SCREENSHOTS if os.environ.get("WEB_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
