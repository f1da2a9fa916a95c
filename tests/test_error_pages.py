"""The storefront's error pages with DEBUG=false: in the store's look, with a way back,
and rendered even when the database is what failed."""

import pytest
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.test import Client, RequestFactory, override_settings

from vodstore import error_pages, urls

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("production")]


@pytest.fixture
def production():
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
        yield


def in_store_look(response, status: int, heading: str) -> None:
    page = response.content.decode()
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert "VOD Store" in page and heading in page
    assert 'href="/">Back to the films</a>' in page
    assert "css/store" in page  # the store's stylesheet, not Django's bare page


def test_a_wrong_address_is_the_stores_404(client):
    in_store_look(client.get("/no-such-page/"), 404, "There is no such page")


def test_under_api_a_wrong_address_is_still_json(client):
    response = client.get("/api/no-such-thing/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_a_control_character_in_the_address_is_the_stores_400(client):
    in_store_look(client.get("/films/%01/"), 400, "This request could not be read")


def test_a_forbidden_page_is_the_stores_403():
    request = RequestFactory().get("/somewhere/")
    handler = urls.handler403
    assert handler == "vodstore.error_pages.permission_denied"
    response = error_pages.permission_denied(request, PermissionDenied())
    in_store_look(response, 403, "You may not open this page")


def test_a_form_with_a_stale_csrf_token_is_the_stores_403(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/accounts/logout/")
    in_store_look(response, 403, "This form has expired")


def test_a_bug_is_the_stores_500_which_needs_no_database(monkeypatch):
    request = RequestFactory().get("/films/")
    monkeypatch.setattr(
        "django.db.backends.base.base.BaseDatabaseWrapper.cursor",
        lambda self: (_ for _ in ()).throw(DatabaseError("the database is not reachable")),
    )
    from vodstore.outage import server_error

    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        response = server_error(request)
    in_store_look(response, 500, "Something went wrong on our side")
