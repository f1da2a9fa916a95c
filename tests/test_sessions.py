"""Storefront sessions that know their account (vodstore.sessions): the account is a
column of the session, read with it in one query, and Django's checks of a session
(the backend, an active account, the password's hash) still decide who is signed in."""

import threading
from datetime import datetime, timedelta

import pytest
from django.contrib import auth
from django.contrib.auth.models import User
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import make_user
from vodstore.models import Session
from vodstore.sessions import SESSION_WITH_ACCOUNT, SessionStore

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
    assert SessionStore(store.session_key).load() == {"cart": "nothing of an account"}


# --- the session's query, compiled once per connection ---------------------------------


def orm_read(key: str, now: datetime) -> Session | None:
    """What the kept query stands for: the ORM's own read."""
    try:
        return Session.objects.select_related("user").get(session_key=key, expire_date__gt=now)
    except Session.DoesNotExist:
        return None


def fields_of(instance) -> dict:
    return {k: v for k, v in vars(instance).items() if not k.startswith("_")}


def test_the_kept_query_is_the_orms_own_sql_and_parameters():
    now = timezone.now()
    orm = Session.objects.select_related("user").filter(session_key="k" * 32, expire_date__gt=now)
    # get()'s LIMIT looks for a second row: a primary key has none, one is asked for
    expected = orm[:1].query.get_compiler("default").as_sql()

    sql, params = SESSION_WITH_ACCOUNT.statement(limit=1, session_key="k" * 32, now=now)

    assert "JOIN" in sql and (sql, tuple(params)) == (expected[0], tuple(expected[1]))
    with CaptureQueriesContext(connection) as seen:
        SESSION_WITH_ACCOUNT.first(session_key="k" * 32, now=now)
    assert len(seen.captured_queries) == 1


@pytest.mark.parametrize("case", ["signed in", "no account", "expired", "unknown key"])
def test_the_kept_query_reads_what_the_orm_reads(case):
    mina = make_user("mina")
    store = SessionStore()
    store["note"] = "kept"
    if case != "no account":
        store[auth.SESSION_KEY] = str(mina.pk)
    store.create()
    key = store.session_key if case != "unknown key" else "x" * 32
    now = timezone.now() + (timedelta(weeks=3) if case == "expired" else timedelta(0))

    expected, read = orm_read(key, now), SESSION_WITH_ACCOUNT.first(session_key=key, now=now)

    if case in ("expired", "unknown key"):
        assert expected is None and read is None
        return
    assert fields_of(read) == fields_of(expected)
    assert read._state.db == expected._state.db and not read._state.adding
    if case == "no account":
        assert read.user is None and expected.user is None
    else:
        assert fields_of(read.user) == fields_of(expected.user)
        assert read.user.last_login == mina.last_login and read.user.is_active is True


@pytest.mark.django_db(transaction=True)
def test_each_thread_reads_through_a_plan_of_its_own_connection():
    make_user("mina")
    client = signed_in("mina")
    key = client.cookies["sessionid"].value
    read: list = []

    def reader() -> None:
        try:
            session = SESSION_WITH_ACCOUNT.first(session_key=key, now=timezone.now())
            read.append((SESSION_WITH_ACCOUNT._plans[connections["default"]][1], session))
        finally:
            connection.close()

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(query) for query, _ in read}) == 4
    assert [session.user.username for _, session in read] == ["mina"] * 4
