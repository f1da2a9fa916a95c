"""Storefront sessions that know their account (vodstore.sessions): the account is a
column of the session, read with it in one query, and Django's checks of a session
(the backend, an active account, the password's hash) still decide who is signed in."""

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import make_user
from vodstore.models import Session
from vodstore.sessions import SessionStore

pytestmark = pytest.mark.django_db

PASSWORD = "s3cret-pass-123"  # make_user's


def signed_in(username: str) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def session_of(client: Client) -> Session:
    return Session.objects.get(session_key=client.cookies["sessionid"].value)


def is_signed_in(client: Client) -> bool:
    return client.get("/accounts/").status_code == 200


def test_a_session_holds_its_account_from_log_in_to_log_out():
    mina = make_user("mina")
    client = signed_in("mina")
    assert session_of(client).user_id == mina.id
    client.post("/accounts/logout/")
    assert not Session.objects.filter(user=mina).exists()


def test_a_signed_in_page_reads_the_session_and_its_account_in_one_query():
    mina = make_user("mina")
    client = signed_in("mina")
    client.get("/library/")
    with CaptureQueriesContext(connection) as seen:
        response = client.get("/accounts/")
    assert response.status_code == 200
    assert response.context["user"] == mina
    sessions = [q["sql"] for q in seen.captured_queries if "vodstore_session" in q["sql"]]
    assert len(sessions) == 1 and "JOIN" in sessions[0]
    assert not [q for q in seen.captured_queries if 'FROM "auth_user"' in q["sql"]]


def test_a_deactivated_account_is_signed_out_at_once():
    make_user("mina")
    client = signed_in("mina")
    User.objects.filter(username="mina").update(is_active=False)
    assert not is_signed_in(client)


def test_a_password_changed_elsewhere_ends_this_session():
    mina = make_user("mina")
    client = signed_in("mina")
    mina.set_password("another-long-pass")
    mina.save()
    assert not is_signed_in(client)


def test_a_session_of_another_account_does_not_pass_for_this_one():
    """A session whose account column disagrees with its data (which only the data
    decides) signs in the data's account, never the column's."""
    mina, bob = make_user("mina"), make_user("bob")
    client = signed_in("mina")
    Session.objects.filter(user=mina).update(user=bob)
    response = client.get("/accounts/")
    assert response.status_code == 200 and response.context["user"] == mina


def test_sign_out_everywhere_ends_the_accounts_sessions_only():
    make_user("mina"), make_user("bob")
    phone, laptop, bobs = signed_in("mina"), signed_in("mina"), signed_in("bob")
    laptop.post("/accounts/sign-out-everywhere/")
    assert not is_signed_in(phone) and not is_signed_in(laptop)
    assert is_signed_in(bobs)


def test_a_session_without_an_account_keeps_none():
    store = SessionStore()
    store["cart"] = "nothing of an account"
    store.create()
    assert Session.objects.get(session_key=store.session_key).user_id is None
