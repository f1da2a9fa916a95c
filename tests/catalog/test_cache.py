"""The catalog's read cache (list pages and film details) and what refreshes it; and the
VodRegistered event of a new film."""

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache, caches
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken

from catalog import cache as catalog_cache
from catalog.models import Vod
from catalog.services import vod_create
from tests.conftest import make_vod
from vodstore.models import OutboxEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, params=["local memory", "Redis"])
def cache_backend(request):
    """Every test here runs on the default per-process cache and on a real Redis (where
    each process also keeps its near copy, `catalog.near`)."""
    if request.param == "Redis":
        request.getfixturevalue("redis_cache")
    return request.param


NEW_FILM = {
    "title": "Night Ferry",
    "synopsis": "Strangers on the last boat to Jeju.",
    "genre": "thriller",
    "release_year": 2024,
    "runtime_minutes": 112,
    "price": 7700,
}


def get(client, url, **headers):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **headers)
    return response, len(ctx.captured_queries)


def titles(client, url="/api/vods/"):
    return [v["title"] for v in client.get(url).json()["results"]]


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("boss", "boss@example.com", "pw-12345-x"))
    return client


def admin_form(vod: Vod, **changes) -> dict:
    form = {
        "title": vod.title,
        "synopsis": vod.synopsis,
        "genre": vod.genre,
        "release_year": vod.release_year,
        "runtime_minutes": vod.runtime_minutes,
        "price": vod.price,
        "poster_url": vod.poster_url,
        "is_active": "on" if vod.is_active else "",
        "_save": "Save",
        # the film's media inline, with no rows, as the browser sends it
        "media-TOTAL_FORMS": "0",
        "media-INITIAL_FORMS": "0",
    }
    form.update(changes)
    if not form["is_active"]:
        del form["is_active"]  # an unticked checkbox is not sent
    return form


# --- what is cached ------------------------------------------------------------------


def test_list_page_is_answered_from_the_cache_the_second_time(api_client):
    first, first_queries = get(api_client, "/api/vods/?page_size=5")
    second, second_queries = get(api_client, "/api/vods/?page_size=5")
    assert first.status_code == second.status_code == 200
    assert (first_queries, second_queries) == (2, 0)  # COUNT and page, then nothing
    assert second.content == first.content


def test_film_detail_is_answered_from_the_cache_the_second_time(api_client, vod):
    first, first_queries = get(api_client, f"/api/vods/{vod.id}/")
    second, second_queries = get(api_client, f"/api/vods/{vod.id}/")
    assert (first_queries, second_queries) == (1, 0)
    assert second.content == first.content and second.json()["title"] == "The Harbor"


def test_a_cached_answer_has_the_headers_of_a_fresh_one(api_client, vod):
    for url in ("/api/vods/", f"/api/vods/{vod.id}/"):
        fresh, cached = api_client.get(url), api_client.get(url)
        for header in ("Content-Type", "Allow"):
            assert cached[header] == fresh[header], (url, header)
        # (a fresh answer also varies on Cookie, as DRF looked at the session)
        assert {"Accept", "Accept-Language"} <= set(cached["Vary"].split(", ")), url


def test_a_list_count_is_kept_for_every_page_of_the_same_films(api_client):
    """Paging, another page size or another order: the films counted are the same."""
    make_vod(genre="action")  # two action films with ToBusan
    _, first = get(api_client, "/api/vods/?genre=action")
    _, other_page = get(api_client, "/api/vods/?genre=action&page_size=1&page=2")
    _, other_order = get(api_client, "/api/vods/?genre=action&ordering=price")
    _, other_genre = get(api_client, "/api/vods/?genre=horror")
    assert (first, other_page, other_order, other_genre) == (2, 1, 1, 2)


def test_a_kept_count_follows_the_catalog(api_client):
    count = api_client.get("/api/vods/?genre=horror").json()["count"]
    make_vod(genre="horror")
    assert api_client.get("/api/vods/?genre=horror&page_size=3").json()["count"] == count + 1


def test_signed_in_readers_share_the_cached_answers(api_client, user):
    _, key = AuthToken.objects.create(user=user)
    anonymous, _ = get(api_client, "/api/vods/")
    signed_in, queries = get(api_client, "/api/vods/", HTTP_AUTHORIZATION=f"Token {key}")
    assert signed_in.content == anonymous.content
    assert queries == 1  # the token lookup only


def test_a_bad_token_is_still_refused_when_the_answer_is_cached(api_client):
    api_client.get("/api/vods/")
    response = api_client.get("/api/vods/", HTTP_AUTHORIZATION="Token not-a-real-token")
    assert response.status_code == 401


def test_searches_are_not_cached(api_client):
    make_vod(title="Busan Nights")
    _, first = get(api_client, "/api/vods/?search=busan")
    _, second = get(api_client, "/api/vods/?search=busan")
    assert first == second == 2


def test_unknown_query_parameters_bypass_the_list_cache(api_client):
    api_client.get("/api/vods/?utm_source=mail")
    _, queries = get(api_client, "/api/vods/?utm_source=mail")
    assert queries == 2
    api_client.get("/api/vods/?ordering=not_a_field")
    response, _ = get(api_client, "/api/vods/?ordering=not_a_field")
    assert response.status_code == 400  # refused each time, never a cached page


def test_the_detail_cache_keeps_one_entry_per_film(api_client, vod):
    api_client.get(f"/api/vods/{vod.id}/")
    response, queries = get(api_client, f"/api/vods/{vod.id}/?anything=1")
    assert response.status_code == 200 and queries == 0


def test_the_browsable_api_is_not_cached(client, vod):
    client.get(f"/api/vods/{vod.id}/", HTTP_ACCEPT="text/html")
    response, queries = get(client, f"/api/vods/{vod.id}/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and queries > 0
    assert response["Content-Type"].startswith("text/html")


def test_errors_are_not_cached(api_client):
    api_client.get("/api/vods/999999/")
    _, queries = get(api_client, "/api/vods/999999/")
    assert queries == 1


# --- what refreshes it ------------------------------------------------------------------


def test_an_admin_edit_is_visible_at_once(admin_client, api_client, vod, committed):
    assert api_client.get(f"/api/vods/{vod.id}/").json()["price"] == 4500
    assert "The Harbor" in titles(api_client)
    with committed():
        response = admin_client.post(
            f"/admin/catalog/vod/{vod.id}/change/",
            admin_form(vod, title="The Old Harbor", price=9900),
        )
    assert response.status_code == 302
    assert api_client.get(f"/api/vods/{vod.id}/").json()["price"] == 9900
    assert "The Old Harbor" in titles(api_client) and "The Harbor" not in titles(api_client)


def test_a_film_withdrawn_in_the_admin_disappears_at_once(admin_client, api_client, vod):
    assert api_client.get(f"/api/vods/{vod.id}/").status_code == 200
    count = api_client.get("/api/vods/").json()["count"]
    admin_client.post(f"/admin/catalog/vod/{vod.id}/change/", admin_form(vod, is_active=""))
    assert api_client.get(f"/api/vods/{vod.id}/").status_code == 404
    assert api_client.get("/api/vods/").json()["count"] == count - 1
    assert "The Harbor" not in titles(api_client)


def test_a_film_withdrawn_from_the_admin_list_disappears_at_once(admin_client, api_client, vod):
    """The change list's editable "on sale" column saves each changed film."""
    api_client.get(f"/api/vods/{vod.id}/")
    films = list(Vod.objects.order_by("-created_at"))
    form = {
        "form-TOTAL_FORMS": str(len(films)),
        "form-INITIAL_FORMS": str(len(films)),
        "_save": "Save",
    }
    for i, film in enumerate(films):
        form[f"form-{i}-id"] = str(film.id)
        if film.is_active and film.id != vod.id:
            form[f"form-{i}-is_active"] = "on"
    response = admin_client.post("/admin/catalog/vod/", form)
    assert response.status_code == 302
    assert api_client.get(f"/api/vods/{vod.id}/").status_code == 404


def test_a_deleted_film_disappears_at_once(api_client, vod):
    api_client.get(f"/api/vods/{vod.id}/")
    assert "The Harbor" in titles(api_client)
    vod.delete()
    assert api_client.get(f"/api/vods/{vod.id}/").status_code == 404
    assert "The Harbor" not in titles(api_client)


def test_a_film_added_through_the_api_is_listed_at_once(api_client, catalog_staff, committed):
    before = api_client.get("/api/vods/").json()["count"]
    staff = api_client.__class__()
    staff.force_authenticate(catalog_staff)
    with committed():
        assert staff.post("/api/vods/", NEW_FILM, format="json").status_code == 201
    listed = api_client.get("/api/vods/").json()
    assert listed["count"] == before + 1 and listed["results"][0]["title"] == "Night Ferry"


def test_demo_films_loaded_in_bulk_are_listed_at_once(api_client):
    before = api_client.get("/api/vods/").json()["count"]
    call_command("load_demo_catalog", "--count", "5", verbosity=0)
    assert api_client.get("/api/vods/").json()["count"] == before + 5


def test_an_answer_built_from_rows_older_than_a_change_is_not_kept():
    """A reader that looked up the cache before a change, and built its answer from
    the old rows, stores it under the old generation: nobody is served it."""
    key = catalog_cache.key_for("http://testserver/api/vods/", "application/json")
    content, generation = catalog_cache.lookup(key)
    assert content is None
    catalog_cache.catalog_changed()  # a film changes while the reader builds its answer
    catalog_cache.store(key, b"old rows", generation)
    assert catalog_cache.lookup(key)[0] is None


def test_a_per_process_cache_keeps_answers_briefly(cache_backend, settings):
    """Local memory (the default) cannot hear of another worker's change: its answers
    expire after seconds, not minutes. Redis is shared: its answers last until a change."""
    if cache_backend == "Redis":
        assert catalog_cache._timeout() == settings.CATALOG_CACHE_SECONDS
    else:
        assert catalog_cache._timeout() == settings.CATALOG_CACHE_LOCAL_SECONDS <= 10


def test_the_cache_is_refreshed_again_when_the_change_commits(committed):
    with committed() as callbacks:
        catalog_cache.catalog_changed()
        generation_inside = cache.get(catalog_cache.GENERATION_KEY)
    assert len(callbacks) == 1
    assert cache.get(catalog_cache.GENERATION_KEY) != generation_inside


def test_the_catalog_is_read_from_the_database_when_the_cache_fails(api_client, vod, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    backend = type(caches["default"])  # (the class: the proxy's target changes per test)
    monkeypatch.setattr(backend, "get_many", broken)
    monkeypatch.setattr(backend, "set", broken)
    assert api_client.get("/api/vods/").status_code == 200
    assert api_client.get(f"/api/vods/{vod.id}/").json()["title"] == "The Harbor"
    vod.title = "Renamed While The Cache Is Down"
    vod.save()  # the invalidation fails and is logged; the save goes through
    assert Vod.objects.get(pk=vod.id).title == "Renamed While The Cache Is Down"


# --- VodRegistered ---------------------------------------------------------------------------


def test_adding_a_film_publishes_vod_registered(committed):
    with committed():
        vod = vod_create(**NEW_FILM)
    event = OutboxEvent.objects.get(type="VodRegistered")
    assert event.payload == {
        "vod_id": vod.id,
        "title": "Night Ferry",
        "genre": "thriller",
        "price": 7700,
    }


def test_a_film_added_through_the_api_publishes_vod_registered(api_client, catalog_staff):
    api_client.force_authenticate(catalog_staff)
    vod_id = api_client.post("/api/vods/", NEW_FILM, format="json").json()["id"]
    assert OutboxEvent.objects.get(type="VodRegistered").payload["vod_id"] == vod_id


def test_a_refused_film_publishes_nothing():
    with pytest.raises(Exception):  # noqa: B017 - the model's validation error
        vod_create(**{**NEW_FILM, "price": -1})
    assert not OutboxEvent.objects.filter(type="VodRegistered").exists()
