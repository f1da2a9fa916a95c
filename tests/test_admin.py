"""Django admin: every model page renders, state changes go through the services."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from mileage.models import MileageAccount, MileageEntry
from payment.models import Payment
from purchase import services
from purchase.models import Purchase
from tests.conftest import assert_books_balance, make_user, make_vod
from vodstore.models import OutboxEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def bought(user_client, vod, committed):
    with committed():
        response = user_client.post("/api/purchases/", {"vod": vod.id}, format="json")
    assert response.status_code == 201
    return Purchase.objects.get(pk=response.json()["id"])


@pytest.mark.parametrize(
    "model",
    [
        "catalog/vod",
        "purchase/purchase",
        "purchase/idempotencykey",
        "payment/payment",
        "payment/operation",
        "mileage/mileageaccount",
        "mileage/mileageentry",
        "vodstore/outboxevent",
    ],
)
def test_changelists_render(admin_client, bought, model):
    assert admin_client.get(f"/admin/{model}/").status_code == 200


def test_change_pages_render(admin_client, bought):
    for obj in (
        bought,
        Payment.objects.get(purchase_id=bought.id),
        Payment.objects.get(purchase_id=bought.id).authorization,
        MileageAccount.objects.get(user_id=bought.user_id),
        MileageEntry.objects.first(),
        OutboxEvent.objects.first(),
    ):
        url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
        assert admin_client.get(url).status_code == 200


def test_ledger_and_payments_are_read_only(admin_client, bought):
    entry = MileageEntry.objects.get(purchase_id=bought.id)
    url = reverse("admin:mileage_mileageentry_change", args=[entry.pk])
    admin_client.post(url, {"delta": 999999, "reason": "earned"})
    entry.refresh_from_db()
    assert entry.delta == 1000
    assert admin_client.get("/admin/mileage/mileageentry/add/").status_code == 403
    assert admin_client.get("/admin/payment/payment/add/").status_code == 403


def test_admin_cancel_action_goes_through_the_service(admin_client, bought, committed):
    with committed():
        response = admin_client.post(
            "/admin/purchase/purchase/",
            {"action": "cancel_purchases", "_selected_action": [bought.id]},
            follow=True,
        )
    assert b"Cancelled 1 purchase(s)." in response.content
    bought.refresh_from_db()
    assert bought.status == "cancelled"
    assert Payment.objects.get(purchase_id=bought.id).status == "cancelled"
    assert MileageAccount.objects.get(user_id=bought.user_id).balance == 0
    assert_books_balance()


def test_admin_cancel_of_a_cancelled_purchase_says_why(admin_client, bought, committed):
    with committed():
        admin_client.post(
            "/admin/purchase/purchase/",
            {"action": "cancel_purchases", "_selected_action": [bought.id]},
        )
        response = admin_client.post(
            "/admin/purchase/purchase/",
            {"action": "cancel_purchases", "_selected_action": [bought.id]},
            follow=True,
        )
    assert b"Only a paid purchase can be cancelled." in response.content
    assert OutboxEvent.objects.filter(type="VodPurchaseCancelled").count() == 1


def test_staff_without_change_permission_gets_no_cancel_action(client, bought):
    viewer = make_user(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_purchase"))
    client.force_login(viewer)
    response = client.post(
        "/admin/purchase/purchase/",
        {"action": "cancel_purchases", "_selected_action": [bought.id]},
    )
    assert response.status_code in (200, 302)
    bought.refresh_from_db()
    assert bought.status == "paid"


def test_the_guard_page_needs_the_permission_to_see_payments(client, admin_client):
    curator = make_user("curator", is_staff=True)
    curator.user_permissions.add(Permission.objects.get(codename="add_vod"))
    client.force_login(curator)

    assert client.get("/admin/payment/payment/guard/").status_code == 403
    assert admin_client.get("/admin/payment/payment/guard/").status_code == 200
    curator.user_permissions.add(Permission.objects.get(codename="view_payment"))
    assert client.get("/admin/payment/payment/guard/").status_code == 200


# --- the store's admin: its name, won and points, usernames ----------------------------


def test_the_admin_carries_the_stores_name_and_look(admin_client, client):
    page = admin_client.get("/admin/").content.decode()
    assert "VOD Store administration" in page
    assert "Django administration" not in page
    assert "<title>Store administration | VOD Store admin</title>" in page
    assert "/static/css/admin.css" in page
    assert "VOD Store administration" in client.get("/admin/login/").content.decode()


def test_a_purchase_is_named_after_its_buyer(admin_client, bought):
    assert str(Purchase.objects.select_related("user").get(pk=bought.pk)) == (
        "The Harbor for alice (paid)"
    )
    url = reverse("admin:purchase_purchase_change", args=[bought.pk])
    page = admin_client.get(url).content.decode()
    assert "The Harbor for alice (paid)" in page
    assert "₩4,500" in page


def test_lists_show_won_points_and_usernames(admin_client, bought):
    purchases = admin_client.get("/admin/purchase/purchase/").content.decode()
    assert '<td class="field-paid">₩4,500</td>' in purchases
    assert ">alice<" in purchases

    payments = admin_client.get("/admin/payment/payment/").content.decode()
    assert '<td class="field-paid">₩4,500</td>' in payments
    assert f'href="/admin/purchase/purchase/{bought.pk}/change/">#{bought.pk}</a>' in payments

    operations = admin_client.get("/admin/payment/operation/").content.decode()
    assert '<td class="field-amount_won">₩4,500</td>' in operations

    ledger = admin_client.get("/admin/mileage/mileageentry/").content.decode()
    assert '<td class="field-change">+1,000 points</td>' in ledger
    assert '<td class="field-user">alice</td>' in ledger

    accounts = admin_client.get("/admin/mileage/mileageaccount/").content.decode()
    assert '<td class="field-points">1,000 points</td>' in accounts

    films = admin_client.get("/admin/catalog/vod/").content.decode()
    assert '<td class="field-price_won">₩4,500</td>' in films


def test_detail_pages_show_won_and_points(admin_client, bought):
    payment = Payment.objects.get(purchase_id=bought.id)
    entry = MileageEntry.objects.get(purchase_id=bought.id)
    pages = {
        reverse("admin:payment_payment_change", args=[payment.pk]): "₩4,500",
        reverse("admin:payment_operation_change", args=[payment.authorization_id]): "₩4,500",
        reverse("admin:mileage_mileageentry_change", args=[entry.pk]): "+1,000 points",
        reverse("admin:mileage_mileageaccount_change", args=[bought.user_id]): "1,000 points",
    }
    for url, figure in pages.items():
        page = admin_client.get(url).content.decode()
        assert figure in page, url
        assert not re.search(r"\b(4500|1000)\b", page), url


def test_a_points_purchase_shows_points_not_won(admin_client, bought, committed):
    buyer = Purchase.objects.get(pk=bought.pk).user
    MileageAccount.objects.filter(user=buyer).update(balance=5000)  # enough for a free film
    MileageEntry.objects.filter(purchase_id=bought.id).update(delta=5000)
    film = make_vod(title="Free Film", price=3000)
    with committed():
        response = services.purchase_create(
            user_id=buyer.id, vod_id=film.id, payment_method="mileage"
        )
    page = admin_client.get("/admin/purchase/purchase/").content.decode()
    assert '<td class="field-paid">5,000 points</td>' in page
    payment = Payment.objects.get(purchase_id=response.purchase.id)
    payments = admin_client.get("/admin/payment/payment/").content.decode()
    assert '<td class="field-paid">5,000 points</td>' in payments
    assert payment.amount == 5000


def changelist_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "url",
    [
        "/admin/purchase/purchase/",
        "/admin/payment/payment/",
        "/admin/payment/operation/",
        "/admin/mileage/mileageentry/",
        "/admin/mileage/mileageaccount/",
    ],
)
def test_changelists_take_the_same_queries_for_one_row_or_many(
    admin_client, bought, committed, url
):
    one = changelist_queries(admin_client, url)
    for _ in range(4):
        buyer_client = APIClient()
        buyer_client.force_authenticate(make_user())
        with committed():
            created = buyer_client.post("/api/purchases/", {"vod": make_vod().id}, format="json")
        assert created.status_code == 201
    assert changelist_queries(admin_client, url) == one
