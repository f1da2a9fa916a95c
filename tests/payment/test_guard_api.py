"""The guard seen by buyers: 503 and 429 with Retry-After, and a catalog that stays up
while payment is down."""

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from purchase.models import Purchase
from tests.conftest import make_vod
from vodstore.models import OutboxEvent

pytestmark = pytest.mark.django_db


def open_the_breaker(client, gateway) -> None:
    gateway.fail = True
    for _ in range(settings.PAYMENT_GUARD["MINIMUM_CALLS"]):
        response = client.post("/api/purchases/", {"vod": make_vod().id}, format="json")
        assert response.status_code == 503


def test_failing_gateway_answers_503_with_retry_after(user_client, vod, gateway):
    gateway.fail = True
    response = user_client.post("/api/purchases/", {"vod": vod.id}, format="json")
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json() == {
        "code": "payment_unavailable",
        "detail": "Payment is busy, please try again in 1 second.",
        "retry_after": 1,
    }
    assert not Purchase.objects.exists() and not OutboxEvent.objects.exists()


def test_open_breaker_refuses_without_calling_the_gateway(user_client, vod, gateway):
    open_the_breaker(user_client, gateway)
    attempts = gateway.attempts
    assert attempts == settings.PAYMENT_GUARD["MINIMUM_CALLS"]
    gateway.fail = False  # the gateway is back, but the breaker has not seen it yet
    response = user_client.post("/api/purchases/", {"vod": vod.id}, format="json")
    assert response.status_code == 503
    wait = settings.PAYMENT_GUARD["OPEN_SECONDS"]
    assert response["Retry-After"] == str(int(wait))
    body = response.json()
    assert body["code"] == "payment_unavailable" and body["retry_after"] == int(wait)
    assert body["detail"] == f"Payment is busy, please try again in {int(wait)} seconds."
    assert gateway.attempts == attempts  # the gateway was not called
    assert not Purchase.objects.exists()


def test_refused_buyer_costs_no_database_write(user_client, vod, gateway):
    open_the_breaker(user_client, gateway)
    with CaptureQueriesContext(connection) as queries:
        assert (
            user_client.post("/api/purchases/", {"vod": vod.id}, format="json").status_code == 503
        )
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []


def test_catalog_keeps_answering_while_payment_is_down(user_client, client, vod, gateway):
    open_the_breaker(user_client, gateway)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/vods/").status_code == 200
        assert client.get(f"/api/vods/{vod.id}/").status_code == 200
        page = client.get("/")
        assert page.status_code == 200 and b"The Harbor" in page.content
        assert client.get(f"/films/{vod.id}/").status_code == 200
    touched = " ".join(q["sql"] for q in queries)
    for table in ("purchase_", "payment_", "mileage_", "vodstore_outbox"):
        assert table not in touched


def test_purchase_rate_limit_is_429_with_retry_after(user_client, monkeypatch, settings):
    settings.PURCHASE_RATE = "2/min"
    films = [make_vod() for _ in range(3)]
    for film in films[:2]:
        assert (
            user_client.post("/api/purchases/", {"vod": film.id}, format="json").status_code == 201
        )
    response = user_client.post("/api/purchases/", {"vod": films[2].id}, format="json")
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "throttled"
    assert 0 < body["retry_after"] <= 60
    assert response["Retry-After"] == str(body["retry_after"])
    assert not Purchase.objects.filter(vod_id=films[2].id).exists()
    # reading is never throttled
    assert user_client.get("/api/purchases/").status_code == 200


def test_metrics_show_the_guard_state(user_client, client, gateway, settings):
    settings.METRICS_ALLOWED_ADDRESSES = ["127.0.0.1"]
    assert 'payment_guard_state{state="closed"} 1.0' in client.get("/metrics").content.decode()
    open_the_breaker(user_client, gateway)
    text = client.get("/metrics").content.decode()
    assert 'payment_guard_state{state="open"} 1.0' in text
    assert 'payment_gateway_calls_total{outcome="failure"}' in text
    assert "outbox_events" in text


def test_admin_shows_the_guard_state(admin_client, user_client, gateway):
    page = admin_client.get("/admin/payment/payment/guard/")
    assert page.status_code == 200
    assert b'<strong id="guard-state">closed</strong>' in page.content
    open_the_breaker(user_client, gateway)
    page = admin_client.get("/admin/payment/payment/guard/")
    assert b'<strong id="guard-state">open</strong>' in page.content
    assert b"retry in 5 s" in page.content
    assert b"Payment guard: open" in admin_client.get("/admin/payment/payment/").content


def test_guard_page_is_for_staff_only(client, user_client):
    assert client.get("/admin/payment/payment/guard/").status_code == 302  # to the login
