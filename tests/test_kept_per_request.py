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
