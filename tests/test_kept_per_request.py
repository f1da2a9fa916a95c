"""A cached value a page shows twice is read from the cache once (`vodstore.cache.
KeptPerRequest`), and never outlives its request or a change made during it."""

import pytest
from django.core.cache import cache as default_cache

from mileage.selectors import mileage_balance_cached
from purchase.services import purchase_create
from tests.conftest import make_user, make_vod
from vodstore import cache

pytestmark = pytest.mark.django_db


class CountingGets:
    """The default cache, counting the reads of each key."""

    def __init__(self, monkeypatch) -> None:
        self.reads: dict[str, int] = {}
        real = default_cache.get

        def get(key, *args, **kwargs):
            self.reads[key] = self.reads.get(key, 0) + 1
            return real(key, *args, **kwargs)

        monkeypatch.setattr(cache.cache, "get", get)


def test_a_film_page_reads_the_buyers_points_once(client, monkeypatch, committed):
    """The header's chip and the buy box both show the points."""
    buyer = make_user()
    with committed():
        purchase_create(user_id=buyer.id, vod_id=make_vod().id)
    film = make_vod(price=3000)
    client.force_login(buyer)
    counting = CountingGets(monkeypatch)

    response = client.get(f"/films/{film.id}/")

    assert response.status_code == 200
    assert b"1,000" in response.content  # the points, in the chip and the buy box
    balance_reads = [n for key, n in counting.reads.items() if "balance" in key]
    assert balance_reads == [1]


def test_each_request_reads_afresh(client, monkeypatch):
    buyer = make_user()
    film = make_vod(price=3000)
    client.force_login(buyer)
    counting = CountingGets(monkeypatch)

    client.get(f"/films/{film.id}/")
    client.get(f"/films/{film.id}/")

    assert [n for key, n in counting.reads.items() if "balance" in key] == [2]


def test_outside_a_request_every_call_reads_the_cache(monkeypatch):
    buyer = make_user()
    counting = CountingGets(monkeypatch)
    mileage_balance_cached(user_id=buyer.id)
    mileage_balance_cached(user_id=buyer.id)
    assert [n for key, n in counting.reads.items() if "balance" in key] == [2]


def test_what_is_forgotten_during_a_request_is_read_again():
    middleware = cache.KeptPerRequest(lambda request: None)
    values = iter(["before", "after"])
    seen = []

    def view(request):
        seen.append(cache.kept("k", lambda: next(values), seconds=60, what="a test value"))
        seen.append(cache.kept("k", lambda: "never", seconds=60, what="a test value"))
        cache.forget("k", what="a test value")
        seen.append(cache.kept("k", lambda: next(values), seconds=60, what="a test value"))

    middleware.get_response = view
    default_cache.delete("k")
    middleware(object())
    assert seen == ["before", "before", "after"]
    assert cache._this_request.get() is None  # nothing left for the next request


class CountingReads:
    """The default cache, recording each read (get, get_many) of a user's values."""

    def __init__(self, monkeypatch) -> None:
        self.reads: list[tuple[str, list[str]]] = []
        get, get_many = default_cache.get, default_cache.get_many
        inside = []  # local memory's get_many asks get for each key: one read, not three

        def counted_get(key, *args, **kwargs):
            if not inside:
                self.reads.append(("get", [key]))
            return get(key, *args, **kwargs)

        def counted_get_many(keys, *args, **kwargs):
            self.reads.append(("get_many", list(keys)))
            inside.append(True)
            try:
                return get_many(keys, *args, **kwargs)
            finally:
                inside.pop()

        monkeypatch.setattr(cache.cache, "get", counted_get)
        monkeypatch.setattr(cache.cache, "get_many", counted_get_many)

    def of_user(self, user_id: int) -> list[tuple[str, list[str]]]:
        mine = (f"mileage:balance:{user_id}", f"purchase:owned:{user_id}")
        return [(how, keys) for how, keys in self.reads if any(k in mine for k in keys)]


def test_a_signed_in_page_reads_the_users_points_and_films_in_one_round_trip(
    client, monkeypatch, committed
):
    buyer = make_user()
    with committed():
        owned = purchase_create(user_id=buyer.id, vod_id=make_vod().id).purchase
    client.force_login(buyer)
    client.get("/")  # both kept in the cache
    counting = CountingReads(monkeypatch)

    response = client.get("/")

    assert response.status_code == 200
    assert b"1,000" in response.content  # the points
    reads = counting.of_user(buyer.id)
    assert [how for how, _ in reads] == ["get_many"]
    assert sorted(reads[0][1]) == sorted(
        [f"mileage:balance:{buyer.id}", f"purchase:owned:{buyer.id}"]
    )
    assert response.content.count(b"film-card__owned") == 1  # the film they own
    assert owned.vod_id in response.context["content"].ids


def test_values_not_in_the_cache_are_computed_once(client, monkeypatch):
    buyer = make_user()
    client.force_login(buyer)
    default_cache.clear()
    counting = CountingReads(monkeypatch)

    response = client.get("/")

    assert response.status_code == 200
    # read together, found absent, computed from the database: never asked again
    assert [how for how, _ in counting.of_user(buyer.id)] == ["get_many"]
    assert default_cache.get(f"mileage:balance:{buyer.id}") == 0
