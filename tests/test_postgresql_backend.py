"""The PostgreSQL backend (vodstore.postgresql): its health check, asked only of a
connection that rested, a connection broken while it rested still replaced before a
request uses it; and the compiled queries prepared by the server once per connection."""

import pytest
from django.db import OperationalError, connection, connections

from purchase.selectors import PURCHASES_WITH_PROGRESS
from tests.conftest import make_user
from vodstore.postgresql import base

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the PostgreSQL backend's own check"
    ),
]


@pytest.fixture
def own():
    """A connection of its own, outside the test's transaction, as a request has one."""
    wrapper = connections.create_connection("default")
    yield wrapper
    wrapper.close()


def checks(wrapper, monkeypatch) -> list[bool]:
    """Each health check the connection is asked for, with its answer."""
    asked = []
    usable = wrapper.is_usable

    def counted():
        asked.append(usable())
        return asked[-1]

    monkeypatch.setattr(wrapper, "is_usable", counted)
    return asked


def request(wrapper) -> int:
    """One request's work: Django's checks at its start and end around one query."""
    wrapper.close_if_unusable_or_obsolete()
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    wrapper.close_if_unusable_or_obsolete()
    return pid


def test_it_is_this_projects_backend():
    assert isinstance(connections["default"], base.DatabaseWrapper)
    assert connection.settings_dict["CONN_HEALTH_CHECKS"]


def test_a_connection_used_a_moment_ago_is_not_checked_again(own, monkeypatch):
    request(own)  # a first request opens it
    asked = checks(own, monkeypatch)
    for _ in range(3):
        request(own)
    assert asked == []


def test_a_rested_connection_is_checked_and_a_broken_one_replaced(own, monkeypatch):
    first = request(own)
    asked = checks(own, monkeypatch)
    monkeypatch.setattr(base, "RESTED_SECONDS", 0.0)  # every pause is a rest
    assert request(own) == first and asked == [True]
    # the server ends the connection while it rests: the check finds out, a new one
    # serves the request, which never sees an error
    with connections.create_connection("default").cursor() as other:
        other.execute("SELECT pg_terminate_backend(%s)", [first])
    assert request(own) != first
    assert asked == [True, False]


# --- prepared statements (the compiled queries) ---------------------------------------


def prepared_statements(cursor) -> list[str]:
    cursor.execute("SELECT statement FROM pg_prepared_statements")
    return [row[0] for row in cursor.fetchall()]


def test_a_compiled_query_is_prepared_once_by_the_server(settings):
    settings.DATABASE_PREPARED_STATEMENTS = True
    for user_id in (1, 2, 3):
        PURCHASES_WITH_PROGRESS.rows(limit=26, user_id=user_id)

    with connection.cursor() as cursor:
        statements = prepared_statements(cursor)
    mine = [sql for sql in statements if '"purchase_purchase"."user_id" = $1' in sql]
    assert len(mine) == 1, statements


def test_prepared_statements_can_be_turned_off(settings):
    settings.DATABASE_PREPARED_STATEMENTS = False
    for user_id in (1, 2, 3):
        PURCHASES_WITH_PROGRESS.rows(limit=27, user_id=user_id)

    with connection.cursor() as cursor:
        assert not [s for s in prepared_statements(cursor) if "LIMIT 27" in s]


def test_a_connection_lost_is_replaced_and_prepares_again(own, settings):
    """The server ends the connection (a restart, a failover): its prepared statements
    go with it; the next connection prepares its own."""
    settings.DATABASE_PREPARED_STATEMENTS = True
    buyer = make_user()
    with own.prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int + 1", [buyer.id])
        assert cursor.fetchone() == (buyer.id + 1,)
    killed = request(own)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [killed])

    with pytest.raises(OperationalError), own.prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int + 1", [1])
    own.close_if_unusable_or_obsolete()  # the end of that request: a broken one goes
    with own.prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int + 1", [2])
        assert cursor.fetchone() == (3,)
        assert "SELECT $1::int + 1" in prepared_statements(cursor)
    assert request(own) != killed
