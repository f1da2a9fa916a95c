"""The error pages as a visitor meets them in a real browser, with DEBUG=false: each is
in the store's look (header, stylesheet), says what happened in plain words, and its
"Back to the films" link leads back to the catalog."""

import re

import pytest
from django.core.exceptions import PermissionDenied
from django.db import OperationalError
from django.test import override_settings
from playwright.sync_api import Page, expect

from catalog import views as catalog_views
from catalog.models import Vod
from tests.conftest import make_vod

pytestmark = pytest.mark.usefixtures("production")


@pytest.fixture
def production():
    with override_settings(DEBUG=False):
        yield


@pytest.fixture
def film(transactional_db) -> Vod:
    Vod.objects.all().delete()  # a flushed database may or may not hold the seed films
    return make_vod(title="Alive!", price=3500)


def in_store_look(page: Page, heading: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(heading))
    expect(page.get_by_role("link", name="VOD Store")).to_be_visible()  # the site's header
    # the store's stylesheet is applied: the header has its background, not the default
    header = page.locator(".site-header")
    assert header.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"


def back_to_the_films(page: Page) -> None:
    page.get_by_role("link", name="Back to the films").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_a_wrong_address(page: Page, film, screenshot):
    response = page.goto("/films/no-such-film/")
    assert response.status == 404
    in_store_look(page, "There is no such page")
    screenshot(page, "error-404")
    back_to_the_films(page)
    expect(page.locator(".film-card__title", has_text="Alive!")).to_be_visible()


def test_an_unreadable_request(page: Page, film):
    response = page.goto("/films/%01/")
    assert response.status == 400
    in_store_look(page, "This request could not be read")
    back_to_the_films(page)


def test_a_forbidden_page(page: Page, film, monkeypatch):
    def refuse(**kwargs):
        raise PermissionDenied

    monkeypatch.setattr(catalog_views, "vod_get", refuse)
    response = page.goto(f"/films/{film.pk}/")
    assert response.status == 403
    in_store_look(page, "You may not open this page")
    back_to_the_films(page)


def test_an_expired_form(page: Page, film, django_user_model):
    django_user_model.objects.create_user("mina", password="a long Passphrase 77")
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("mina")
    page.get_by_label("Password").fill("a long Passphrase 77")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    # the form's token no longer matches: as after a sign-in in another tab
    page.context.clear_cookies(name="csrftoken")
    page.get_by_role("button", name="Log out").click()
    in_store_look(page, "This form has expired")
    back_to_the_films(page)


def test_a_bug(page: Page, film, monkeypatch, screenshot):
    def broken(**kwargs):
        raise RuntimeError("a bug in the film page")

    monkeypatch.setattr(catalog_views, "vod_get", broken)
    response = page.goto(f"/films/{film.pk}/")
    assert response.status == 500
    in_store_look(page, "Something went wrong on our side")
    screenshot(page, "error-500")
    monkeypatch.undo()
    back_to_the_films(page)


def test_an_outage(page: Page, film, monkeypatch, screenshot):
    # the 503 page tries again by itself; its way back is the same address
    def unreachable(**kwargs):
        raise OperationalError("the database is not reachable")

    monkeypatch.setattr(catalog_views, "vod_get", unreachable)
    response = page.goto(f"/films/{film.pk}/")
    assert response.status == 503
    assert response.headers["retry-after"].isdigit()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="VOD Store")).to_be_visible()
    screenshot(page, "error-503")
    monkeypatch.undo()  # the database is back: "Try again now" shows the film
    page.get_by_role("link", name="Try again now").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alive!")
