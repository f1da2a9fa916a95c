"""A buyer's own lists (the library and the purchases page) made cheap: the first page
without a count when it is all there is, "Continue watching" from the page when the
page is the whole library, and the rendered lists kept under a digest of what they
show, so that every change shows at once and no two people share one."""

import random
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import Vod
from purchase import selectors
from purchase.models import Purchase, WatchProgress
from purchase.services import purchase_cancel, purchase_create
from purchase.views import LIBRARY_PAGE_SIZE
from tests.conftest import make_user, make_vod
from vodstore.paging import page_of

pytestmark = pytest.mark.django_db

LIBRARY = reverse("purchase:library")
PURCHASES = reverse("purchase:list")


def visible(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def buy(user, count: int) -> list[Purchase]:
    return [purchase_create(user_id=user.id, vod_id=make_vod().id).purchase for _ in range(count)]


def test_continue_watching_among_a_whole_library_is_the_same_as_asking(committed):
    """Every kind of progress: none, not started, partway, finished, length unknown,
    and a cancelled film's; in the same order as the query's."""
    rng = random.Random(7)
    buyer = make_user()
    with committed():
        purchases = buy(buyer, 16)
    now = timezone.now()
    for n, purchase in enumerate(purchases[:14]):
        duration = rng.choice([None, 100.0, 3600.0])
        position = rng.choice([0.0, 5.0, 50.0, 96.0, 99.9, 3500.0])
        if duration is not None:
            position = min(position, duration)
        progress = WatchProgress.objects.create(
            purchase=purchase, position_seconds=position, duration_seconds=duration
        )
        # distinct and shuffled times, ties broken by id as the query does
        WatchProgress.objects.filter(pk=progress.pk).update(
            updated_at=now - timedelta(minutes=rng.choice([1, 2, 3]) if n % 3 else 5)
        )
    with committed():
        purchase_cancel(user_id=buyer.id, purchase_id=purchases[0].id)

    asked = [w.pk for w in selectors.continue_watching(user_id=buyer.id)]
    owned = selectors.purchase_list(user_id=buyer.id, status=Purchase.Status.PAID)
    among = [w.pk for w in selectors.continue_watching_among(owned.select_related("progress"))]
    assert asked and among == asked


def test_a_first_page_that_is_the_whole_list_is_not_counted(committed):
    buyer = make_user()
    with committed():
        buy(buyer, 3)
    purchases = selectors.purchase_list(user_id=buyer.id)
    with CaptureQueriesContext(connection) as seen:
        page = page_of(purchases, 20, None)
        assert (page.paginator.count, page.paginator.num_pages, len(page)) == (3, 1, 3)
    assert len(seen.captured_queries) == 1
    assert "COUNT" not in seen.captured_queries[0]["sql"]


def test_a_longer_list_is_counted_and_paged_as_always(committed):
    buyer = make_user()
    with committed():
        bought = buy(buyer, 5)
    purchases = selectors.purchase_list(user_id=buyer.id)
    first = page_of(purchases, 2, "1")
    assert (first.paginator.count, first.has_next(), len(first)) == (5, True, 2)
    assert [p.pk for p in first] == [p.pk for p in reversed(bought)][:2]
    assert [p.pk for p in page_of(purchases, 2, "3")] == [bought[0].pk]
    assert page_of(purchases, 2, "99").number == 3  # past the end: the last page
    assert page_of(purchases, 2, "abc").number == 1


def test_a_library_longer_than_a_page_still_continues_watching(client, committed):
    buyer = make_user()
    with committed():
        purchases = buy(buyer, LIBRARY_PAGE_SIZE + 2)
    oldest = purchases[0]  # on the second page
    WatchProgress.objects.create(purchase=oldest, position_seconds=30, duration_seconds=600)
    client.force_login(buyer)
    response = client.get(LIBRARY)
    assert f"{LIBRARY_PAGE_SIZE + 2} films you own" in visible(response)
    assert "Continue watching" in visible(response)
    assert oldest.vod_title in visible(response)
    assert "Continue watching" not in visible(client.get(LIBRARY + "?page=2"))


def test_every_change_shows_on_the_kept_lists_at_once(client, committed):
    buyer = make_user()
    with committed():
        first, second = buy(buyer, 2)
    client.force_login(buyer)
    for url in (LIBRARY, PURCHASES):
        client.get(url)  # kept
    # a cancel: gone from the library, Cancelled on the purchases page
    with committed():
        purchase_cancel(user_id=buyer.id, purchase_id=first.id)
    assert first.vod_title not in visible(client.get(LIBRARY))
    row = re.search(
        rf'<tr id="purchase-{first.id}">.*?</tr>', client.get(PURCHASES).content.decode(), re.S
    )
    assert "Cancelled" in row.group(0) and "Cancel…" not in row.group(0)
    # progress: the library says where the film stopped
    WatchProgress.objects.create(purchase=second, position_seconds=65, duration_seconds=600)
    assert "Stopped at 1:05" in visible(client.get(LIBRARY))
    # a film renamed in the catalog: the library shows its new title
    Vod.objects.filter(pk=second.vod_id).update(title="A New Name")
    assert "A New Name" in visible(client.get(LIBRARY))
    # the refund window passes: no Cancel any more (the table's facts include it)
    Purchase.objects.filter(pk=second.pk).update(created_at=timezone.now() - timedelta(days=400))
    row = re.search(
        rf'<tr id="purchase-{second.id}">.*?</tr>', client.get(PURCHASES).content.decode(), re.S
    )
    assert "Cancel…" not in row.group(0)


def test_two_buyers_of_the_same_films_never_share_a_kept_list(client, committed):
    film = make_vod(title="Shared Film")
    alice, bob = make_user("alice"), make_user("bob")
    with committed():
        mine = purchase_create(user_id=alice.id, vod_id=film.id).purchase
        theirs = purchase_create(user_id=bob.id, vod_id=film.id).purchase
    for _ in range(2):
        for user, own, other in ((alice, mine, theirs), (bob, theirs, mine)):
            client.force_login(user)
            page = client.get(PURCHASES).content.decode()
            assert f'id="purchase-{own.id}"' in page and f'id="purchase-{other.id}"' not in page
            assert user.username in visible(client.get(LIBRARY))


def test_the_kept_lists_keep_each_language_apart(client, committed):
    buyer = make_user()
    with committed():
        buy(buyer, 1)
    client.force_login(buyer)
    english = visible(client.get(PURCHASES, HTTP_ACCEPT_LANGUAGE="en"))
    korean = visible(client.get(PURCHASES, HTTP_ACCEPT_LANGUAGE="ko"))
    assert "Paid" in english and "Paid" not in korean
    assert "Paid" in visible(client.get(PURCHASES, HTTP_ACCEPT_LANGUAGE="en"))


def test_a_rendered_list_comes_from_this_processs_own_copy(client, committed, monkeypatch):
    """The same facts make the same HTML in every process: once made, a list is read
    from this process's memory, not asked of the shared cache again."""
    from vodstore import cache as store_cache

    buyer = make_user()
    with committed():
        buy(buyer, 2)
    client.force_login(buyer)
    first = client.get(PURCHASES)
    asked = []
    shared_get = store_cache.cache.get
    monkeypatch.setattr(
        store_cache.cache, "get", lambda key, *a, **k: asked.append(key) or shared_get(key, *a, **k)
    )

    again = client.get(PURCHASES)

    assert visible(again) == visible(first)
    assert not [key for key in asked if key.startswith("rendered:")]
