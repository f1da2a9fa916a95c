"""Real-browser fixtures: Debian's Chromium driven by Playwright's sync API against
pytest-django's live server.

No pytest-playwright and no `playwright install`: the browser is the system's
Chromium (`CHROMIUM_PATH`, else `chromium` on PATH, else /usr/bin/chromium). Without
it the browser tests skip with a reason, except under CI=true where they fail."""

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# The machine has no internet: these keep Chromium from trying to reach it (and hang).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    candidate = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    path = Path(candidate)
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


CHROMIUM = find_chromium()
MISSING = (
    "no Chromium found (set CHROMIUM_PATH, put `chromium` on PATH or install Debian's "
    "`chromium` package): the browser tests did not run"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM is not None:
        return
    here = Path(__file__).parent
    browser_items = [item for item in items if here in Path(item.path).parents]
    if not browser_items:
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(f"CI must run the browser tests, but {MISSING}.")
    for item in browser_items:
        item.add_marker(pytest.mark.skip(reason=MISSING))


@pytest.fixture(autouse=True, scope="package")
def _allow_orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API runs an event loop in this thread; Django refuses ORM calls
    from a thread with a running loop unless told it is fine (it is: one thread, sync).
    Only while the browser tests run: a subprocess that inherited it would fail
    `check --deploy`, and other tests keep Django's protection."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="package")
def browser(_allow_orm_beside_playwright) -> Iterator[Browser]:
    """One Chromium for the browser tests (package scope: closed, with its event loop,
    before the rest of the suite runs)."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser, live_server) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies, English) per test, at desktop size."""
    ctx = browser.new_context(base_url=live_server.url, viewport=DESKTOP, locale="en-US")
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(autouse=True, scope="package")
def _expect_timeout() -> None:
    # the auto-waiting assertions' default (5 s) is short on a loaded CI machine
    expect.set_options(timeout=10_000)


@pytest.fixture
def screenshot(tmp_path_factory) -> Callable[[Page, str], None]:
    """`screenshot(page, name)` saves what the browser shows (the viewport, not the whole
    page) as <name>.png: into docs/screenshots with UPDATE_SCREENSHOTS=1 (the README's
    pictures), elsewhere into a temporary folder, so that a test run leaves the
    tracked pictures alone."""
    folder = (
        SCREENSHOTS
        if os.environ.get("UPDATE_SCREENSHOTS") == "1"
        else tmp_path_factory.getbasetemp() / "screenshots"
    )

    def take(page: Page, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.screenshot(path=folder / f"{name}.png", animations="disabled", caret="hide")

    return take
