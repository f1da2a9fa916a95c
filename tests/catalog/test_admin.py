"""The catalog's admin writes through the catalog's services: a film added there
publishes `VodRegistered`, a change publishes nothing (SPEC section 3), and films are
retired, never deleted."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from catalog.models import Vod
from tests.conftest import make_vod
from vodstore.models import OutboxEvent

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:catalog_vod_changelist")


def film_form(**fields: object) -> dict:
    """The admin's add/change form of a film as the browser posts it (no media rows)."""
    return {
        "title": "Night Ferry",
        "synopsis": "A crossing.",
        "genre": "thriller",
        "release_year": "2024",
        "runtime_minutes": "101",
        "price": "7700",
        "poster_url": "",
        "is_active": "on",
        "media-TOTAL_FORMS": "0",
        "media-INITIAL_FORMS": "0",
        "media-MIN_NUM_FORMS": "0",
        "media-MAX_NUM_FORMS": "2",
        **fields,
    }


def registered() -> list[dict]:
    return list(OutboxEvent.objects.filter(type="VodRegistered").values_list("payload", flat=True))


def said(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_a_film_added_in_admin_publishes_vod_registered_once(admin_client, committed):
    with committed():
        response = admin_client.post(reverse("admin:catalog_vod_add"), film_form())

    assert response.status_code == 302, response.content.decode()[:2000]
    film = Vod.objects.get(title="Night Ferry")
    assert registered() == [
        {"vod_id": film.id, "title": "Night Ferry", "genre": "thriller", "price": 7700}
    ]


def test_a_film_refused_by_the_admin_form_publishes_nothing(admin_client):
    response = admin_client.post(reverse("admin:catalog_vod_add"), film_form(price="-1"))

    assert response.status_code == 200  # the form again, with the error
    assert not Vod.objects.filter(title="Night Ferry").exists()
    assert registered() == []


def test_a_film_changed_in_admin_publishes_nothing(admin_client, committed):
    film = make_vod(title="Old Title", price=5000)

    with committed():
        response = admin_client.post(
            reverse("admin:catalog_vod_change", args=[film.id]),
            film_form(title="New Title", price="6000"),
        )

    assert response.status_code == 302, response.content.decode()[:2000]
    film.refresh_from_db()
    assert (film.title, film.price, film.genre) == ("New Title", 6000, "thriller")
    assert registered() == []


def test_taking_a_film_off_sale_in_the_list_goes_through_the_service(admin_client, monkeypatch):
    from catalog import services

    film = make_vod()
    calls = []
    real_update = services.vod_update
    monkeypatch.setattr(
        services, "vod_update", lambda **kw: calls.append(kw["data"]) or real_update(**kw)
    )

    response = admin_client.post(
        CHANGELIST,
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(film.id),
            # "form-0-is_active" left out: the box unticked
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert calls == [{"is_active": False}]
    assert not Vod.objects.get(pk=film.id).is_active
    assert registered() == []


def test_the_retire_and_put_on_sale_actions(admin_client):
    on_sale, retired, kept = make_vod(), make_vod(is_active=False), make_vod()

    response = admin_client.post(
        CHANGELIST, {"action": "retire", "_selected_action": [on_sale.id, retired.id]}
    )

    assert response.status_code == 302
    assert said(response) == ["Retired 1 film."]
    assert set(Vod.objects.filter(is_active=False).values_list("id", flat=True)) == {
        on_sale.id,
        retired.id,
    }
    assert Vod.objects.get(pk=kept.id).is_active

    response = admin_client.post(
        CHANGELIST, {"action": "put_on_sale", "_selected_action": [on_sale.id, retired.id]}
    )

    assert said(response)[-1] == "Put 2 films on sale."
    assert Vod.objects.filter(is_active=True).count() == Vod.objects.count()


def test_the_admin_offers_no_way_to_delete_a_film(admin_client):
    film = make_vod()

    changelist = admin_client.get(CHANGELIST).content.decode()
    change = admin_client.get(reverse("admin:catalog_vod_change", args=[film.id]))

    assert 'value="delete_selected"' not in changelist
    assert 'value="retire"' in changelist
    assert reverse("admin:catalog_vod_delete", args=[film.id]) not in change.content.decode()


@pytest.mark.parametrize("method", ["get", "post"])
def test_deleting_a_film_by_its_address_is_refused_with_a_reason(admin_client, method):
    film = make_vod()
    url = reverse("admin:catalog_vod_delete", args=[film.id])

    response = getattr(admin_client, method)(url, {"post": "yes"})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:catalog_vod_change", args=[film.id])
    assert said(response) == [
        "Films are not deleted: their buyers keep them. To take a film out of the store, "
        "untick “On sale” (or use the action “Retire the selected films”)."
    ]
    assert Vod.objects.filter(pk=film.id).exists()


def test_the_delete_action_posted_anyway_deletes_nothing(admin_client):
    film = make_vod()

    response = admin_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [film.id], "post": "yes"}
    )

    assert response.status_code in (200, 302)
    assert Vod.objects.filter(pk=film.id).exists()
