"""Ordering the API's film list: pages never repeat or skip a film, even among films
that tie on the ordering field."""

import pytest

from catalog.models import Vod
from tests.conftest import make_vod

pytestmark = pytest.mark.django_db


def all_pages(client, ordering: str) -> list[int]:
    ids, url = [], f"/api/vods/?ordering={ordering}&page_size=7"
    while url:
        body = client.get(url).json()
        ids += [v["id"] for v in body["results"]]
        url = body["next"]
    return ids


@pytest.mark.parametrize("ordering", ["price", "-price", "release_year", "title", "-created_at"])
def test_paging_an_ordering_with_ties_shows_every_film_once(api_client, ordering):
    for _ in range(30):
        make_vod(price=5000, release_year=2001, title="Same Title")
    ids = all_pages(api_client, ordering)
    assert sorted(ids) == sorted(Vod.objects.filter(is_active=True).values_list("id", flat=True))


def test_ties_are_broken_by_id_in_the_direction_of_the_ordering(api_client):
    films = [make_vod(price=5000) for _ in range(3)]
    cheap = make_vod(price=100)
    ascending = [v["id"] for v in api_client.get("/api/vods/?ordering=price").json()["results"]]
    descending = [v["id"] for v in api_client.get("/api/vods/?ordering=-price").json()["results"]]
    ids = [f.id for f in films]
    assert ascending[0] == cheap.id
    assert [i for i in ascending if i in ids] == ids
    assert [i for i in descending if i in ids] == ids[::-1]
