"""Django admin: every model page renders, state changes go through the services."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from mileage.models import MileageAccount, MileageEntry
from payment.models import Payment
from purchase.models import Purchase
from tests.conftest import assert_books_balance, make_user
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
