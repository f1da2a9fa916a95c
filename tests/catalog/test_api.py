"""The catalog API: reading for anyone, adding for permitted staff, errors in one shape."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from catalog.models import Vod
from tests.conftest import make_user, make_vod

pytestmark = pytest.mark.django_db

NEW_FILM = {
    "title": "Night Ferry",
    "synopsis": "Strangers on the last boat to Jeju.",
    "genre": "thriller",
    "release_year": 2024,
    "runtime_minutes": 112,
    "price": 7700,
}


def test_seed_films_exist_after_migrate():
    seeds = {v.title: v for v in Vod.objects.filter(title__in=["Alive!", "ToBusan"])}
    assert set(seeds) == {"Alive!", "ToBusan"}
    assert all(v.is_active and v.price >= 0 for v in seeds.values())


def test_anonymous_lists_active_films_paginated(api_client):
    make_vod(title="Withdrawn", is_active=False)
    response = api_client.get("/api/vods/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    titles = [v["title"] for v in body["results"]]
    assert "Alive!" in titles and "ToBusan" in titles
    assert "Withdrawn" not in titles
    assert body["count"] == Vod.objects.filter(is_active=True).count()
    assert set(body["results"][0]) == {
        "id",
        "title",
        "synopsis",
        "genre",
        "release_year",
        "runtime_minutes",
        "price",
        "poster_url",
        "is_active",
        "created_at",
    }


def test_search_by_title_is_case_insensitive(api_client):
    make_vod(title="Busan Nights")
    response = api_client.get("/api/vods/", {"search": "busan"})
    assert sorted(v["title"] for v in response.json()["results"]) == ["Busan Nights", "ToBusan"]


def test_filter_by_genre(api_client):
    make_vod(title="Ghost Ward", genre="horror")
    response = api_client.get("/api/vods/", {"genre": "horror"})
    titles = {v["title"] for v in response.json()["results"]}
    assert titles == {"Ghost Ward", "Alive!"}


def test_unknown_genre_is_400_with_field_error(api_client):
    response = api_client.get("/api/vods/", {"genre": "western"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "genre" in response.json()["errors"]


def test_ordering_by_price_both_ways(api_client):
    make_vod(title="Cheap", price=0)
    make_vod(title="Dear", price=15000)
    asc = [
        v["price"] for v in api_client.get("/api/vods/", {"ordering": "price"}).json()["results"]
    ]
    desc = [
        v["price"] for v in api_client.get("/api/vods/", {"ordering": "-price"}).json()["results"]
    ]
    assert asc == sorted(asc) and asc[0] == 0
    assert desc == sorted(desc, reverse=True) and desc[0] == 15000


def test_page_size_is_capped_and_pages_link(api_client):
    for _ in range(5):
        make_vod()
    first = api_client.get("/api/vods/", {"page_size": 3}).json()
    assert len(first["results"]) == 3
    assert "page=2" in first["next"] and first["previous"] is None
    second = api_client.get(first["next"]).json()
    assert {v["id"] for v in second["results"]}.isdisjoint({v["id"] for v in first["results"]})
    for _ in range(100):
        make_vod()
    assert len(api_client.get("/api/vods/", {"page_size": 10_000}).json()["results"]) == 100


@pytest.mark.parametrize(
    "params",
    [
        {"page": "abc"},
        {"page": 0},
        {"page": 2**31},
        {"page_size": "x"},
        {"page_size": 0},
        {"page_size": -5},
        {"page_size": 2**31},
    ],
)
def test_a_page_that_is_no_page_number_is_400_not_500(api_client, params):
    response = api_client.get("/api/vods/", params)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_query"


def test_a_page_past_the_last_is_404_not_found(api_client):
    make_vod()
    response = api_client.get("/api/vods/", {"page": 999})
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "There is no page 999."}
    assert api_client.get("/api/vods/", {"page": "last"}).status_code == 200


@pytest.mark.parametrize(
    "ordering", ["secret_field", "price,", "-", "price;drop", "id", " price", "price," * 20]
)
def test_an_ordering_by_no_field_of_the_list_is_400(api_client, ordering):
    response = api_client.get("/api/vods/", {"ordering": ordering})
    assert response.status_code == 400
    assert response.json()["errors"].keys() == {"ordering"}


def test_orderings_by_several_fields_are_read(api_client):
    b, a, dear = (make_vod(price=100, title=t) for t in ("Qz B", "Qz A", "Qz C"))
    Vod.objects.filter(pk=dear.pk).update(price=900)
    for ordering, expected in [("-price,title", [dear, a, b]), ("price,-title", [b, a, dear])]:
        body = api_client.get("/api/vods/", {"ordering": ordering, "search": "Qz"}).json()
        assert [v["id"] for v in body["results"]] == [v.id for v in expected]


def test_a_search_longer_than_a_hundred_characters_is_400(api_client):
    make_vod(title="x" * 150)
    assert api_client.get("/api/vods/", {"search": "x" * 100}).status_code == 200
    response = api_client.get("/api/vods/", {"search": "x" * 101})
    assert response.status_code == 400
    assert response.json()["errors"].keys() == {"search"}


def test_list_runs_a_constant_number_of_queries(api_client):
    for _ in range(30):
        make_vod()
    counts = []
    for size in (2, 30):
        with CaptureQueriesContext(connection) as ctx:
            assert api_client.get("/api/vods/", {"page_size": size}).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts == [2, 1]  # one COUNT, one page; then the count comes from the cache


def test_detail(api_client, vod):
    response = api_client.get(f"/api/vods/{vod.id}/")
    assert response.status_code == 200
    assert response.json()["title"] == "The Harbor" and response.json()["price"] == 4500


def test_unknown_and_inactive_ids_are_404(api_client):
    hidden = make_vod(is_active=False)
    for vod_id in (999999, hidden.id):
        response = api_client.get(f"/api/vods/{vod_id}/")
        assert response.status_code == 404
        assert response.json() == {"code": "not_found", "detail": "Not found."}


def test_staff_who_add_films_read_one_taken_off_sale_and_no_one_else_does(
    api_client, catalog_staff, user
):
    hidden = make_vod(is_active=False, title="Withdrawn")
    api_client.force_authenticate(catalog_staff)
    response = api_client.get(f"/api/vods/{hidden.id}/")
    assert response.status_code == 200
    assert response.json()["title"] == "Withdrawn" and response.json()["is_active"] is False
    # nor does the staff answer reach anyone else through the read cache
    for who in (user, None):
        api_client.force_authenticate(who)
        assert api_client.get(f"/api/vods/{hidden.id}/").status_code == 404
    # staff without a catalog permission, like customers, see films on sale only
    api_client.force_authenticate(make_user("clerk", is_staff=True))
    assert api_client.get(f"/api/vods/{hidden.id}/").status_code == 404
    # and the lists are the films on sale, for staff too
    api_client.force_authenticate(catalog_staff)
    ids = [v["id"] for v in api_client.get("/api/vods/").json()["results"]]
    assert hidden.id not in ids


def test_permitted_staff_adds_a_film(api_client, catalog_staff):
    api_client.force_authenticate(catalog_staff)
    response = api_client.post("/api/vods/", NEW_FILM, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["title"] == "Night Ferry" and body["is_active"] is True
    assert Vod.objects.get(pk=body["id"]).price == 7700


def test_ordinary_user_cannot_add_a_film(api_client):
    api_client.force_authenticate(make_user())
    response = api_client.post("/api/vods/", NEW_FILM, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not Vod.objects.filter(title="Night Ferry").exists()


def test_staff_without_the_permission_cannot_add_a_film(api_client):
    api_client.force_authenticate(make_user(is_staff=True))
    assert api_client.post("/api/vods/", NEW_FILM, format="json").status_code == 403


def test_anonymous_cannot_add_a_film(api_client):
    response = api_client.post("/api/vods/", NEW_FILM, format="json")
    assert response.status_code in (401, 403)
    assert response.json()["code"] == "not_authenticated"
    assert not Vod.objects.filter(title="Night Ferry").exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": -1}, "price"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"release_year": 1500}, "release_year"),
        ({"release_year": 3000}, "release_year"),
        ({"runtime_minutes": 0}, "runtime_minutes"),
        ({"genre": "western"}, "genre"),
        ({"price": "cheap"}, "price"),
        ({"price": 10**12}, "price"),
        ({"poster_url": "not a url"}, "poster_url"),
    ],
)
def test_invalid_film_is_400_with_field_errors(api_client, catalog_staff, change, field):
    api_client.force_authenticate(catalog_staff)
    before = Vod.objects.count()
    response = api_client.post("/api/vods/", {**NEW_FILM, **change}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"]
    assert Vod.objects.count() == before


def test_missing_fields_are_reported(api_client, catalog_staff):
    api_client.force_authenticate(catalog_staff)
    response = api_client.post("/api/vods/", {}, format="json")
    assert response.status_code == 400
    assert {"title", "genre", "release_year", "runtime_minutes", "price"} <= set(
        response.json()["errors"]
    )


def test_malformed_json_is_400(catalog_staff):
    client = APIClient()
    client.force_authenticate(catalog_staff)
    response = client.post("/api/vods/", data='{"title": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


@pytest.mark.parametrize("payload", ["[1, 2]", '"just a string"', "42", "null"])
def test_non_object_body_is_400(catalog_staff, payload):
    client = APIClient()
    client.force_authenticate(catalog_staff)
    response = client.post("/api/vods/", data=payload, content_type="application/json")
    assert response.status_code == 400
    assert "code" in response.json()


def test_browsable_api_renders_for_anyone(client):
    response = client.get("/api/vods/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Alive!" in response.content


def test_a_film_added_by_a_form_is_on_sale_unless_said_otherwise(catalog_staff):
    client = APIClient()
    client.force_authenticate(catalog_staff)
    fields = {
        "title": "Film 44",
        "genre": "animation",
        "release_year": 2020,
        "runtime_minutes": 26,
        "price": 263,
    }

    created = client.post("/api/vods/", fields)  # form-encoded, no is_active

    assert created.status_code == 201 and created.json()["is_active"] is True
    assert client.get(f"/api/vods/{created.json()['id']}/").status_code == 200
