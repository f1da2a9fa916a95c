"""A film retired from sale (taken off sale in the admin) leaves the store, not its
buyers: their library, purchase pages, player and cancel rules stay as they were, and
the admin refuses to delete it."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from catalog.models import Vod
from mileage.models import MileageEntry
from purchase.models import Purchase
from purchase.services import purchase_create
from tests.conftest import make_user, make_vod

pytestmark = pytest.mark.django_db


@pytest.fixture
def retired(admin_client, user, committed, gateway):
    """A film `user` bought, then retired with the admin's action."""
    film = make_vod(title="Last Reel", price=6000)
    with committed():
        purchase_create(user_id=user.id, vod_id=film.id)
    response = admin_client.post(
        reverse("admin:catalog_vod_changelist"),
        {"action": "retire", "_selected_action": [film.id]},
    )
    assert response.status_code == 302
    film.refresh_from_db()
    assert not film.is_active
    return film


@pytest.fixture
def owner_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_owner_keeps_the_film_in_the_library_and_watches_it(owner_client, retired):
    library = page(owner_client.get(reverse("purchase:library")))
    watch = page(owner_client.get(reverse("purchase:watch", args=[retired.id])))

    assert "Last Reel" in library and reverse("purchase:watch", args=[retired.id]) in library
    assert "<h1>Last Reel</h1>" in watch
    assert "No longer on sale: yours to keep." in watch
    film_page = reverse("catalog:detail", args=[retired.id])
    assert f'href="{film_page}"' not in watch  # no page in the store to go to
    assert owner_client.get(reverse("purchase:watch-source", args=[retired.id])).status_code == 200


def test_the_owner_keeps_the_purchase_pages_and_receipt(owner_client, user, retired):
    purchase = Purchase.objects.get(user=user, vod_id=retired.id)

    listing = page(owner_client.get(reverse("purchase:list")))
    receipt = page(owner_client.get(reverse("purchase:detail", args=[purchase.id])))
    api = APIClient()
    api.force_authenticate(user)
    body = api.get(f"/api/purchases/{purchase.id}/").json()

    assert "Last Reel" in listing and "Last Reel" in receipt
    assert (body["vod"], body["vod_title"], body["amount"]) == (retired.id, "Last Reel", 6000)


def test_the_owner_may_still_cancel_within_the_refund_window(
    owner_client, user, retired, committed, gateway
):
    purchase = Purchase.objects.get(user=user, vod_id=retired.id)

    with committed():
        response = owner_client.post(reverse("purchase:cancel", args=[purchase.id]))

    assert response.status_code == 302
    purchase.refresh_from_db()
    assert purchase.status == Purchase.Status.CANCELLED
    assert gateway.refunds == ["fake_1"]
    assert MileageEntry.objects.filter(purchase_id=purchase.id).count() == 2  # earned, taken back


def test_the_film_leaves_the_store(client, retired):
    assert "Last Reel" not in page(client.get(reverse("catalog:list")))
    assert client.get(reverse("catalog:detail", args=[retired.id])).status_code == 404
    assert retired.id not in [film["id"] for film in client.get("/api/vods/").json()["results"]]
    assert client.get(f"/api/vods/{retired.id}/").status_code == 404


def test_nobody_can_buy_it_any_more(retired, gateway):
    buyer = APIClient()
    buyer.force_authenticate(make_user("late"))

    response = buyer.post("/api/purchases/", {"vod": retired.id}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "vod_not_available"
    assert not Purchase.objects.filter(vod_id=retired.id, user__username="late").exists()
    assert gateway.charges == [("fake_1", 6000)]  # the owner's purchase only


def test_deleting_a_bought_film_in_admin_is_refused_without_an_error(admin_client, user, retired):
    url = reverse("admin:catalog_vod_delete", args=[retired.id])

    response = admin_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert "Films are not deleted" in str(list(get_messages(response.wsgi_request))[-1])
    assert Vod.objects.filter(pk=retired.id).exists()
    assert Purchase.objects.filter(user=user, vod_id=retired.id, status="paid").exists()
