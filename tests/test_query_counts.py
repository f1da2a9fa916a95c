"""Query counts of every endpoint the benchmark (`make bench`) measures: each is a
fixed number, whatever the size of the catalog, the number of users and purchases.
A change that adds a query per film, per purchase or per user (an N+1) fails here;
so does a change that adds a round trip to the cheap paths.

Counts include the work done right after commit (event handlers), as the request
does it."""

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken
from rest_framework.test import APIClient

from catalog.cache import catalog_changed
from catalog.models import Vod
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

# Transaction statements (BEGIN, COMMIT, SAVEPOINT...) are not counted: they differ by
# database. Both budgets hold on SQLite and PostgreSQL.
# A card purchase: token, film, ownership; the authorization recorded, then its answer;
# one transaction (purchase, authorization attached, capture recorded, payment, two
# events); the capture read back and its answer recorded; then the points handler's
# (ledger read, balance, entry, its event, its delivery, the event marked delivered).
# The receipt's handler is not in the request: deferred to the worker.
PURCHASE_BUDGET = 19
# A cancel: token; one transaction (update, read back, event); the payment handler's
# (payment read twice, its capture read, the refund recorded and its answer, update,
# its event, its delivery, marked delivered); the points handler's (six, as above).
CANCEL_BUDGET = 19

TRANSACTION_STATEMENTS = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def queries(run) -> int:
    """Statements run by `run()` (which runs its on-commit work itself, as `buy` does)."""
    with CaptureQueriesContext(connection) as ctx:
        run()
    return sum(
        1 for q in ctx.captured_queries if not q["sql"].upper().startswith(TRANSACTION_STATEMENTS)
    )


def add_films(n: int) -> list[Vod]:
    """n more films, in bulk (as load_demo_catalog adds them, refreshing the cache)."""
    vods = Vod.objects.bulk_create(
        [
            Vod(
                title=f"Bulk film {i}",
                genre="drama",
                release_year=2000,
                runtime_minutes=90,
                price=3000,
            )
            for i in range(n)
        ]
    )
    catalog_changed()
    return vods


def grow_everything(films: int = 150, users: int = 30) -> list[Vod]:
    """A bigger store: more films, users, and purchases (with their events)."""
    vods = add_films(films)
    for i in range(users):
        client = token_client(make_user(f"crowd{i}"))
        for vod in vods[:3]:
            buy(client, vod)
    return vods


def token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user)[1]}")
    return client


def test_healthz_runs_no_query(client):
    assert queries(lambda: client.get("/healthz")) == 0


@pytest.mark.parametrize(
    "url",
    ["/api/vods/", "/api/vods/?genre=drama", "/api/vods/?ordering=price&page=2&page_size=5"],
)
def test_catalog_list_counts_then_pages_and_then_comes_from_the_cache(api_client, url):
    counts = []
    for films in (30, 300):
        add_films(films)  # a change: the cached answers are forgotten
        counts.append(queries(lambda: api_client.get(url)))
        counts.append(queries(lambda: api_client.get(url)))
    assert counts == [2, 0, 2, 0]


def test_catalog_search_runs_two_queries_whatever_the_catalog_size(api_client):
    counts = []
    for films in (10, 300):
        add_films(films)
        counts.append(queries(lambda: api_client.get("/api/vods/?search=bulk")))
    assert counts == [2, 2]  # COUNT and page; searches are not cached


def test_film_detail_runs_one_query_then_comes_from_the_cache(api_client):
    counts = []
    for films in (10, 300):
        url = f"/api/vods/{add_films(films)[-1].id}/"
        counts.append(queries(lambda url=url: api_client.get(url)))
        counts.append(queries(lambda url=url: api_client.get(url)))
    assert counts == [1, 0, 1, 0]


def buy(client: APIClient, vod: Vod) -> int:
    """Buy as a real request does: its on-commit work (points) runs too."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post("/api/purchases/", {"vod": vod.id}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def cancel(client: APIClient, purchase_id: int) -> None:
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(f"/api/purchases/{purchase_id}/cancel/")
    assert response.status_code == 200, response.content


def test_a_card_purchase_runs_a_fixed_number_of_queries():
    small = add_films(3)
    buyer = token_client(make_user("buyer"))
    buy(buyer, small[0])  # the buyer's mileage account exists from now on
    first = queries(lambda: buy(buyer, small[1]))

    films = grow_everything()
    for vod in films[10:35]:
        buy(buyer, vod)  # the buyer's own history grows too
    cache.clear()  # (forget the purchase rate limit's count)
    second = queries(lambda: buy(buyer, films[-1]))

    assert first == second <= PURCHASE_BUDGET


def test_a_cancel_runs_a_fixed_number_of_queries():
    small = add_films(3)
    buyer = token_client(make_user("buyer"))
    first_purchase = buy(buyer, small[0])
    first = queries(lambda: cancel(buyer, first_purchase))

    films = grow_everything()
    purchases = [buy(buyer, vod) for vod in films[10:35]]
    for purchase_id in purchases[:15]:
        cancel(buyer, purchase_id)
    second = queries(lambda: cancel(buyer, purchases[-1]))

    assert first == second <= CANCEL_BUDGET
