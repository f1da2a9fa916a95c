"""Races with real threads against the real database (SQLite file or PostgreSQL).

Each test starts 8 requests together behind a barrier, each thread with its own client
and database connection; the fake gateway is a little slow so the requests overlap."""

import random
import threading
import time
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from mileage.models import MileageAccount, MileageEntry
from payment.models import Payment
from purchase.models import IdempotencyKey, Purchase
from tests.conftest import assert_books_balance, make_user, make_vod

pytestmark = pytest.mark.django_db(transaction=True)

N = 8


@pytest.fixture
def slow_gateway(gateway, monkeypatch):
    """The fake gateway, answering in 20-50 ms so concurrent buyers really overlap."""
    fast = gateway.authorize

    def authorize(**kwargs):
        time.sleep(random.uniform(0.02, 0.05))
        return fast(**kwargs)

    monkeypatch.setattr(gateway, "authorize", authorize)
    return gateway


def race(user, request) -> list:
    """Run `request(client, i)` in N threads started together; return the responses."""
    barrier = threading.Barrier(N)
    responses: list = [None] * N
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            client = APIClient()
            client.force_authenticate(user)
            barrier.wait(timeout=10)
            responses[i] = request(client, i)
        except BaseException as exc:  # a 500 is raised by the test client: report it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(N)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    assert not errors, errors
    return responses


def outcomes(responses) -> Counter:
    return Counter(
        (r.status_code, r.json().get("code") if r.status_code != 201 else None) for r in responses
    )


def test_concurrent_card_buys_of_one_film_sell_it_once(slow_gateway):
    user = make_user()
    vod = make_vod(price=4500)

    responses = race(
        user, lambda client, i: client.post("/api/purchases/", {"vod": vod.id}, format="json")
    )

    assert outcomes(responses) == {(201, None): 1, (409, "already_owned"): N - 1}
    assert Purchase.objects.count() == 1 and Payment.objects.count() == 1
    bought = next(r.json() for r in responses if r.status_code == 201)
    assert Purchase.objects.get().id == bought["id"]
    # Every buyer that got past the ownership check was charged; all but one voided.
    assert len(slow_gateway.kept_charges) == 1
    assert Payment.objects.get().gateway_reference == slow_gateway.kept_charges[0]
    charged = {ref for ref, _ in slow_gateway.charges}
    assert sorted(slow_gateway.voids) == sorted(charged - set(slow_gateway.kept_charges))
    assert MileageAccount.objects.get(user=user).balance == 1000
    assert_books_balance()


def test_concurrent_free_purchases_spend_the_points_once(gateway):
    user = make_user()
    client = APIClient()
    client.force_authenticate(user)
    for _ in range(5):  # 5 card purchases earn exactly 5000 points
        response = client.post("/api/purchases/", {"vod": make_vod().id}, format="json")
        assert response.status_code == 201
    assert MileageAccount.objects.get(user=user).balance == 5000
    films = [make_vod() for _ in range(N)]
    charges_before = len(gateway.charges)

    responses = race(
        user,
        lambda client, i: client.post(
            "/api/purchases/", {"vod": films[i].id, "payment_method": "mileage"}, format="json"
        ),
    )

    assert outcomes(responses) == {(201, None): 1, (402, "insufficient_mileage"): N - 1}
    assert len(gateway.charges) == charges_before  # points only, no card charged
    assert MileageAccount.objects.get(user=user).balance == 0
    free = Purchase.objects.filter(payment_method="mileage")
    assert free.count() == 1 and Payment.objects.filter(method="mileage").count() == 1
    assert free.get().id == next(r.json()["id"] for r in responses if r.status_code == 201)
    assert Purchase.objects.count() == 6 and Payment.objects.count() == 6
    running = 0  # the balance, replayed entry by entry, never went below zero
    for delta in (
        MileageEntry.objects.filter(account_id=user.id)
        .order_by("id")
        .values_list("delta", flat=True)
    ):
        running += delta
        assert running >= 0
    assert running == 0
    assert_books_balance()


def test_concurrent_requests_with_one_idempotency_key_charge_once(slow_gateway):
    user = make_user()
    vod = make_vod(price=3000)

    def retry(client, i):
        # Staggered over about the gateway's latency: the early ones find the first
        # request still running, the late ones find its stored response.
        time.sleep(i * 0.01)
        return client.post(
            "/api/purchases/", {"vod": vod.id}, format="json", HTTP_IDEMPOTENCY_KEY="race-key-1"
        )

    responses = race(user, retry)

    counts = outcomes(responses)
    assert set(counts) <= {(201, None), (409, "idempotency_in_progress")}
    assert counts[(201, None)] >= 1
    first = [r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r]
    assert len(first) == 1  # exactly one request did the work; the others replayed it
    for response in responses:
        if response.status_code == 201:
            assert response.json() == first[0].json()
        else:
            assert response["Retry-After"]
    assert len(slow_gateway.charges) == 1 and slow_gateway.voids == []
    assert Purchase.objects.count() == 1 and Payment.objects.count() == 1
    claim = IdempotencyKey.objects.get(user=user, key="race-key-1")
    assert claim.purchase_id == first[0].json()["id"] and claim.response_status == 201
    assert MileageAccount.objects.get(user=user).balance == 1000
    assert_books_balance()


def test_concurrent_first_purchases_open_one_account_and_count_every_point(slow_gateway):
    """A new user has no mileage account: eight card purchases at once each earn, and
    the account is created once (one upsert, whoever comes first) with all 8000 points."""
    user = make_user()
    assert not MileageAccount.objects.filter(user=user).exists()
    films = [make_vod() for _ in range(N)]

    responses = race(
        user,
        lambda client, i: client.post("/api/purchases/", {"vod": films[i].id}, format="json"),
    )

    assert outcomes(responses) == {(201, None): N}
    assert MileageAccount.objects.get(user=user).balance == N * 1000
    assert MileageEntry.objects.filter(account_id=user.id, reason="earned").count() == N
    assert_books_balance()
