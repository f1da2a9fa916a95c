"""Buying and cancelling through the API: the rules of SPEC section 2, end to end."""

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from mileage.models import MileageAccount, MileageEntry
from payment.models import Payment
from purchase.models import Purchase
from tests.conftest import assert_books_balance, make_user, make_vod
from vodstore.models import OutboxEvent

pytestmark = pytest.mark.django_db


def buy(client, committed, vod_id, method="card", **headers):
    with committed():
        return client.post(
            "/api/purchases/", {"vod": vod_id, "payment_method": method}, format="json", **headers
        )


def cancel(client, committed, purchase_id):
    with committed():
        return client.post(f"/api/purchases/{purchase_id}/cancel/")


def balance(client) -> int:
    return client.get("/api/mileage/").json()["balance"]


def test_buy_with_card(user_client, user, vod, committed, gateway):
    response = buy(user_client, committed, vod.id)
    assert response.status_code == 201
    body = response.json()
    assert body["vod"] == vod.id and body["vod_title"] == "The Harbor"
    assert body["status"] == "paid" and body["payment_method"] == "card"
    assert body["amount"] == 4500 and body["cancelled_at"] is None
    assert body["payment"]["status"] == "approved" and body["payment"]["method"] == "card"
    assert body["payment"]["amount"] == 4500
    assert gateway.charges == [("fake_1", 4500)] and gateway.voids == []
    assert balance(user_client) == 1000
    entry = MileageEntry.objects.get(account_id=user.id)
    assert (entry.delta, entry.reason, entry.purchase_id) == (1000, "earned", body["id"])
    assert OutboxEvent.objects.get(id=entry.event_id).type == "PaymentApproved"
    assert set(OutboxEvent.objects.values_list("type", flat=True)) == {
        "VodPurchased",
        "PaymentApproved",
        "MileageChanged",
    }
    # delivered in the request, but the receipt (VodPurchased), which the worker sends:
    # the answer never waits on a mail server
    undelivered = OutboxEvent.objects.exclude(status="delivered")
    assert list(undelivered.values_list("type", flat=True)) == ["VodPurchased"]
    assert_books_balance()


def test_points_arrive_only_after_commit(
    user_client, user, vod, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert (
            user_client.post("/api/purchases/", {"vod": vod.id}, format="json").status_code == 201
        )
        assert not MileageEntry.objects.exists()
    assert callbacks  # the dispatch waits for the commit
    for callback in callbacks:
        callback()
    assert MileageAccount.objects.get(user=user).balance == 1000


def test_buying_an_owned_film_is_409_and_charges_nothing(user_client, vod, committed, gateway):
    assert buy(user_client, committed, vod.id).status_code == 201
    response = buy(user_client, committed, vod.id)
    assert response.status_code == 409
    assert response.json()["code"] == "already_owned"
    assert len(gateway.charges) == 1
    assert Purchase.objects.count() == 1 and Payment.objects.count() == 1


def test_after_a_cancel_the_film_can_be_bought_again(user_client, vod, committed):
    first = buy(user_client, committed, vod.id).json()
    assert cancel(user_client, committed, first["id"]).status_code == 200
    again = buy(user_client, committed, vod.id)
    assert again.status_code == 201
    assert again.json()["id"] != first["id"]
    assert balance(user_client) == 1000
    assert_books_balance()


def test_five_card_purchases_then_a_free_one(user_client, user, committed, gateway):
    films = [make_vod() for _ in range(7)]
    for film in films[:5]:
        assert buy(user_client, committed, film.id).status_code == 201
    assert balance(user_client) == 5000

    free = buy(user_client, committed, films[5].id, method="mileage")
    assert free.status_code == 201
    body = free.json()
    assert body["payment_method"] == "mileage" and body["amount"] == 5000
    assert body["payment"] == {
        "id": body["payment"]["id"],
        "status": "approved",
        "method": "mileage",
        "amount": 5000,
    }
    assert balance(user_client) == 0
    assert len(gateway.charges) == 5  # the free film never reached the gateway
    spent = MileageEntry.objects.get(purchase_id=body["id"])
    assert (spent.delta, spent.reason) == (-5000, "spent")  # and nothing earned for it

    refused = buy(user_client, committed, films[6].id, method="mileage")
    assert refused.status_code == 402
    assert refused.json()["code"] == "insufficient_mileage"
    assert not Purchase.objects.filter(vod_id=films[6].id).exists()
    assert Payment.objects.count() == 6
    assert balance(user_client) == 0
    assert_books_balance()


def test_free_purchase_with_no_account_at_all_is_402(user_client, vod, committed):
    response = buy(user_client, committed, vod.id, method="mileage")
    assert response.status_code == 402
    assert response.json()["code"] == "insufficient_mileage"
    assert not Purchase.objects.exists() and not Payment.objects.exists()
    assert not OutboxEvent.objects.exists()


def test_declined_card_leaves_nothing(user_client, vod, committed, gateway):
    gateway.decline = True
    response = buy(user_client, committed, vod.id)
    assert response.status_code == 402
    assert response.json()["code"] == "payment_declined"
    assert not Purchase.objects.exists()
    assert not Payment.objects.exists()
    assert not OutboxEvent.objects.exists()
    assert not MileageEntry.objects.exists()


def test_gateway_failure_is_503_and_leaves_nothing(user_client, vod, committed, gateway):
    gateway.fail = True
    response = buy(user_client, committed, vod.id)
    assert response.status_code == 503
    assert response.json()["code"] == "payment_unavailable"
    assert not Purchase.objects.exists() and not OutboxEvent.objects.exists()


def test_cancel_a_card_purchase(user_client, vod, committed, gateway):
    bought = buy(user_client, committed, vod.id).json()
    response = cancel(user_client, committed, bought["id"])
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled" and body["cancelled_at"] is not None
    assert gateway.refunds == ["fake_1"]
    payment = Payment.objects.get(purchase_id=bought["id"])
    assert payment.status == "cancelled" and payment.cancelled_at is not None
    assert balance(user_client) == 0
    reasons = list(
        MileageEntry.objects.filter(purchase_id=bought["id"]).values_list("reason", "delta")
    )
    assert sorted(reasons) == [("clawed_back", -1000), ("earned", 1000)]
    assert_books_balance()


def test_cancelling_a_card_purchase_may_take_the_balance_below_zero(user_client, committed):
    films = [make_vod() for _ in range(6)]
    bought = [buy(user_client, committed, f.id).json() for f in films[:5]]
    assert buy(user_client, committed, films[5].id, method="mileage").status_code == 201
    assert cancel(user_client, committed, bought[0]["id"]).status_code == 200
    assert balance(user_client) == -1000
    assert_books_balance()


def test_cancel_a_free_purchase_refunds_the_points(user_client, committed, gateway):
    films = [make_vod() for _ in range(6)]
    for film in films[:5]:
        buy(user_client, committed, film.id)
    free = buy(user_client, committed, films[5].id, method="mileage").json()
    assert balance(user_client) == 0
    response = cancel(user_client, committed, free["id"])
    assert response.status_code == 200
    assert Payment.objects.get(purchase_id=free["id"]).status == "cancelled"
    assert balance(user_client) == 5000
    assert gateway.refunds == []  # nothing to refund at the gateway
    assert_books_balance()


def test_cancel_twice_is_409(user_client, vod, committed):
    bought = buy(user_client, committed, vod.id).json()
    assert cancel(user_client, committed, bought["id"]).status_code == 200
    response = cancel(user_client, committed, bought["id"])
    assert response.status_code == 409
    assert response.json()["code"] == "not_cancellable"
    assert OutboxEvent.objects.filter(type="VodPurchaseCancelled").count() == 1
    assert balance(user_client) == 0


def test_someone_elses_purchase_is_404_everywhere(user_client, vod, committed, other_user):
    bought = buy(user_client, committed, vod.id).json()
    intruder = APIClient()
    intruder.force_authenticate(other_user)
    assert intruder.get(f"/api/purchases/{bought['id']}/").status_code == 404
    response = cancel(intruder, committed, bought["id"])
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert Purchase.objects.get(pk=bought["id"]).status == "paid"
    assert intruder.get("/api/purchases/").json()["count"] == 0
    assert intruder.get("/api/payments/").json()["count"] == 0
    payment_id = bought["payment"]["id"]
    assert intruder.get(f"/api/payments/{payment_id}/").status_code == 404
    assert intruder.get("/api/mileage/entries/").json()["count"] == 0
    assert intruder.get("/api/mileage/").json()["balance"] == 0


def test_unknown_purchase_is_404(user_client, committed):
    assert cancel(user_client, committed, 999999).status_code == 404
    assert user_client.get("/api/purchases/999999/").status_code == 404


def test_staff_with_the_change_permission_may_cancel_anyones_purchase(user_client, vod, committed):
    bought = buy(user_client, committed, vod.id).json()
    staff = APIClient()
    staff_user = make_user(is_staff=True)
    # the permission the admin's cancel asks for (tests/test_inputs.py: staff without it)
    staff_user.user_permissions.add(Permission.objects.get(codename="change_purchase"))
    staff.force_authenticate(staff_user)
    assert cancel(staff, committed, bought["id"]).status_code == 200
    assert Purchase.objects.get(pk=bought["id"]).status == "cancelled"
    assert_books_balance()


def test_lists_are_own_newest_first_and_filterable(user_client, committed):
    films = [make_vod() for _ in range(3)]
    ids = [buy(user_client, committed, f.id).json()["id"] for f in films]
    cancel(user_client, committed, ids[0])
    listed = user_client.get("/api/purchases/").json()
    assert [p["id"] for p in listed["results"]] == ids[::-1]
    assert all(p["payment"] is not None for p in listed["results"])
    paid = user_client.get("/api/purchases/", {"status": "paid"}).json()
    assert [p["id"] for p in paid["results"]] == ids[:0:-1]
    assert user_client.get("/api/purchases/", {"status": "refunded"}).status_code == 400
    payments = user_client.get("/api/payments/", {"purchase": ids[1]}).json()
    assert [p["purchase"] for p in payments["results"]] == [ids[1]]
    assert user_client.get("/api/payments/", {"purchase": "x"}).status_code == 400
    entries = user_client.get("/api/mileage/entries/").json()["results"]
    assert [(e["reason"], e["purchase"]) for e in entries] == [
        ("clawed_back", ids[0]),
        ("earned", ids[2]),
        ("earned", ids[1]),
        ("earned", ids[0]),
    ]


def test_mileage_summary(user_client):
    body = user_client.get("/api/mileage/").json()
    assert body["balance"] == 0
    assert body["free_vod_cost"] == 5000 and body["earn_per_purchase"] == 1000
    assert body["entries_url"].endswith("/api/mileage/entries/")


@pytest.mark.parametrize(
    "url", ["/api/purchases/", "/api/payments/", "/api/mileage/", "/api/mileage/entries/"]
)
def test_anonymous_is_refused(api_client, url):
    response = api_client.get(url)
    assert response.status_code in (401, 403)
    assert response.json()["code"] == "not_authenticated"


def test_anonymous_cannot_buy(api_client, vod):
    response = api_client.post("/api/purchases/", {"vod": vod.id}, format="json")
    assert response.status_code in (401, 403)
    assert not Purchase.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"vod": "abc"},
        {"vod": -1},
        {"vod": 0},
        {"vod": 10**30},
        {"vod": 1.5},
        {"vod": None},
        {},
        {"vod": 1, "payment_method": "bitcoin"},
        {"vod": 1, "payment_method": 7},
        {"vod": [1]},
    ],
)
def test_bad_purchase_input_is_400(user_client, payload, gateway):
    response = user_client.post("/api/purchases/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert gateway.charges == [] and not Purchase.objects.exists()


@pytest.mark.parametrize("raw", ["[1, 2]", '"vod"', "42", "null", "{bad json"])
def test_non_object_or_malformed_body_is_400(user_client, raw):
    response = user_client.post("/api/purchases/", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] in {"invalid", "parse_error"}


def test_unknown_or_withdrawn_film_is_400(user_client, gateway):
    withdrawn = make_vod(is_active=False)
    for vod_id in (999999, withdrawn.id):
        response = user_client.post("/api/purchases/", {"vod": vod_id}, format="json")
        assert response.status_code == 400
        assert response.json()["code"] == "vod_not_available"
        assert "vod" in response.json()["errors"]
    assert gateway.charges == []


@pytest.mark.parametrize("path", ["/api/purchases/99999999999999999999999/", "/api/vods/-1/"])
def test_huge_or_negative_ids_in_paths_are_404(user_client, path):
    assert user_client.get(path).status_code == 404


def test_query_counts_of_buy_and_cancel(user_client, vod, committed):
    make_vod()  # the account exists after the first purchase, as for most buyers
    buy(user_client, committed, make_vod().id)
    with CaptureQueriesContext(connection) as bought:
        response = buy(user_client, committed, vod.id)
    assert response.status_code == 201
    with CaptureQueriesContext(connection) as cancelled:
        assert cancel(user_client, committed, response.json()["id"]).status_code == 200
    # Fixed budgets: a change that adds a round trip shows here. (Inside the test's
    # transaction each atomic block shows as a SAVEPOINT and a RELEASE.)
    # (the receipt's handler: 3 of them, its own transaction's SAVEPOINT and RELEASE 2)
    assert len(bought.captured_queries) == 24, "\n".join(q["sql"] for q in bought.captured_queries)
    assert len(cancelled.captured_queries) == 28, "\n".join(
        q["sql"] for q in cancelled.captured_queries
    )


@pytest.mark.django_db(transaction=True)
def test_cancel_answers_with_the_payment_already_refunded(vod):
    """With real commits, the refund runs right after the cancel commits, before the
    answer is rendered, so the answer shows the cancelled payment."""
    client = APIClient()
    client.force_authenticate(make_user())
    bought = client.post("/api/purchases/", {"vod": vod.id}, format="json").json()
    response = client.post(f"/api/purchases/{bought['id']}/cancel/")
    assert response.status_code == 200
    assert response.json()["payment"]["status"] == "cancelled"
    assert client.get("/api/mileage/").json()["balance"] == 0
    assert_books_balance()
