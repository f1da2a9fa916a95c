"""The browsable API in Debian's Chromium, as a newcomer meets it: refused at
/api/purchases/, they find Log in, come back signed in, and Log out works (no script:
the Content-Security-Policy forbids DRF's inline one)."""

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import make_user

PASSWORD = "s3cret-pass-123"  # tests.conftest.make_user's


@pytest.fixture
def member(transactional_db):
    return make_user("minji")


def test_an_anonymous_visitor_logs_in_and_out_of_the_browsable_api(page: Page, member, screenshot):
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto("/api/purchases/")
    expect(page.get_by_role("heading", name="Purchases")).to_be_visible()
    expect(page.get_by_role("note")).to_contain_text("This page is for signed-in users")
    screenshot(page, "api-refused")

    page.get_by_role("note").get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill(member.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page.locator(".response-info")).to_contain_text("HTTP 200 OK")
    expect(page.locator(".navbar")).to_contain_text("minji")

    page.get_by_role("button", name="Log out").click()

    expect(page.locator(".response-info")).to_contain_text("HTTP 401 Unauthorized")
    assert page.url.endswith("/api/purchases/")
    expect(page.get_by_role("link", name="Log in").first).to_be_visible()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_the_api_root_lists_its_entry_points_in_the_browser(page: Page, transactional_db):
    page.goto("/api/")

    expect(page.get_by_role("heading", name="VOD store API")).to_be_visible()
    expect(page.locator(".response-info")).to_contain_text("/api/purchases/")
    page.get_by_role("link", name="Docs", exact=True).click()
    assert page.url.endswith("/api/docs/")
