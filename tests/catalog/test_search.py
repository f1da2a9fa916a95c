"""Title search: the same answers as `title__icontains` on every database, through the
trigram index where there is one (SQLite's FTS5 table, kept in step by triggers)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import search
from catalog.models import Vod
from catalog.selectors import vod_list
from tests.conftest import make_vod

pytestmark = pytest.mark.django_db

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="PostgreSQL searches through pg_trgm (migration 0003)"
)


def found(text: str) -> set[str]:
    return set(search.title_contains(Vod.objects.all(), text).values_list("title", flat=True))


@pytest.fixture
def films(db):
    for title in ("Busan Nights", "Night Ferry", 'Say "Hello"', "AND OR NOT*", "Éclair", "부산행"):
        make_vod(title=title)


def test_a_search_finds_a_title_containing_it_in_any_case(films):
    assert found("NIGHT") == {"Busan Nights", "Night Ferry"}
    assert found("ht fe") == {"Night Ferry"}  # spaces belong to the phrase
    assert found("ights") == {"Busan Nights"}
    assert found("nowhere") == set()


@pytest.mark.parametrize(
    ("text", "titles"),
    [
        ("to busan", {"ToBusan", "To Busan"}),
        ("tobusan", {"ToBusan", "To Busan"}),
        ("TOBUSAN", {"ToBusan", "To Busan"}),
        ("To  Bu san", {"ToBusan", "To Busan"}),
        ("o b", {"ToBusan", "To Busan"}),  # shorter than a trigram once squeezed
        ("ob", {"ToBusan", "To Busan"}),
        ("busan", {"ToBusan", "To Busan", "Busan Nights"}),
        ("nights busan", set()),
    ],
)
def test_a_search_ignores_spaces_and_case(films, text, titles):
    make_vod(title="ToBusan")
    make_vod(title="To Busan")
    assert found(text) == titles


def test_a_search_of_only_spaces_finds_every_film(films):
    assert found("   ") == found("")


def test_a_search_shorter_than_a_trigram_still_works(films):
    assert found("fe") == {"Night Ferry"}
    assert found("부산") == {"부산행"}


def test_letters_beyond_ascii_and_korean_titles_are_found(films):
    assert found("éclair") == {"Éclair"}
    assert found("부산행") == {"부산행"}


def test_quotes_and_search_operators_are_plain_text(films):
    assert found('say "hel') == {'Say "Hello"'}
    assert found("OR NOT*") == {"AND OR NOT*"}
    assert found('"') == {'Say "Hello"'}


def test_the_index_follows_inserts_renames_deletes_and_bulk_loads(db):
    vod = make_vod(title="Harbor Lights")
    assert found("harbor") == {"Harbor Lights"}
    vod.title = "Mountain Lights"
    vod.save()
    assert found("harbor") == set() and found("mountain") == {"Mountain Lights"}
    Vod.objects.filter(pk=vod.pk).update(title="River Lights")  # no model signal
    assert found("mountain") == set() and found("river") == {"River Lights"}
    vod.delete()
    assert found("lights") == set()
    Vod.objects.bulk_create(
        [
            Vod(
                title=f"Bulk Film {i}",
                genre="drama",
                price=1000,
                release_year=2020,
                runtime_minutes=90,
            )
            for i in range(3)
        ]
    )
    assert found("bulk film") == {"Bulk Film 0", "Bulk Film 1", "Bulk Film 2"}


def test_the_api_and_the_storefront_search_the_same_way(api_client, films):
    every_term = api_client.get("/api/vods/", {"search": "night ferry"}).json()["results"]
    assert [v["title"] for v in every_term] == ["Night Ferry"]  # both words, anywhere
    assert {v.title for v in vod_list(search="NIGHTS")} == {"Busan Nights"}


@sqlite_only
def test_on_sqlite_a_search_reads_the_trigram_index(films):
    assert search.indexed("default")
    with CaptureQueriesContext(connection) as queries:
        assert found("ferry") == {"Night Ferry"}
    sql = queries.captured_queries[-1]["sql"]
    assert "MATCH" in sql and "LIKE" not in sql
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {search.MATCHING}", ['"ferry"'])
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())
    assert "VIRTUAL TABLE INDEX" in plan  # not a scan of catalog_vod


@sqlite_only
def test_on_sqlite_a_short_search_falls_back_to_like(films):
    with CaptureQueriesContext(connection) as queries:
        found("fe")
    assert "LIKE" in queries.captured_queries[-1]["sql"]
