"""The PostgreSQL backend's health check (vodstore.postgresql): asked only of a
connection that rested, and a connection broken while it rested is still replaced
before a request uses it."""

import pytest
from django.db import connection, connections

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
