"""The demo catalog: the film generator and the `load_demo_catalog` command."""

import io
import statistics

import pytest
from django.core.management import CommandError, call_command

from catalog.demo import CITIES, SEED_TITLES, demo_films, title_city
from catalog.models import Genre, Vod

PRICES = {0, 1200, 2500, 3500, 4500, 5500, 7700, 9900, 12000, 15000}


def load_demo_catalog(*args: str, **options: object) -> str:
    out = io.StringIO()
    call_command("load_demo_catalog", *args, stdout=out, **options)
    return out.getvalue()


def seed_films() -> list[dict]:
    return list(Vod.objects.filter(title__in=SEED_TITLES).order_by("title").values())


@pytest.mark.django_db
def test_load_creates_the_first_n_demo_films_with_valid_fields():
    before = Vod.objects.count()

    out = load_demo_catalog(count=300)

    assert "Created 300 demo films; 0 already existed." in out
    assert Vod.objects.count() == before + 300
    expected = [film["title"] for film in demo_films(count=300)]
    loaded = Vod.objects.filter(title__in=expected)
    assert sorted(loaded.values_list("title", flat=True)) == sorted(expected)
    assert set(loaded.values_list("genre", flat=True)) <= set(Genre.values)
    for vod in loaded.order_by("id")[::25]:
        vod.full_clean()


@pytest.mark.django_db
def test_default_count_is_200():
    assert "Created 200 demo films; 0 already existed." in load_demo_catalog()


@pytest.mark.django_db
def test_running_twice_creates_nothing_new():
    load_demo_catalog(count=150)
    total = Vod.objects.count()

    out = load_demo_catalog(count=150)

    assert "Created 0 demo films; 150 already existed." in out
    assert Vod.objects.count() == total


@pytest.mark.django_db
def test_a_larger_count_adds_only_the_difference():
    load_demo_catalog(count=100)
    total = Vod.objects.count()

    out = load_demo_catalog("--count", "250")

    assert "Created 150 demo films; 100 already existed." in out
    assert Vod.objects.count() == total + 150


@pytest.mark.django_db
def test_zero_count_creates_nothing():
    before = Vod.objects.count()

    assert "Created 0 demo films; 0 already existed." in load_demo_catalog(count=0)
    assert Vod.objects.count() == before


@pytest.mark.django_db
def test_negative_count_is_refused():
    before = Vod.objects.count()

    with pytest.raises(CommandError, match="zero or more"):
        load_demo_catalog("--count", "-5")

    assert Vod.objects.count() == before


@pytest.mark.django_db
def test_existing_films_are_never_touched():
    seeds = seed_films()
    first = next(demo_films(count=1))
    own = Vod.objects.create(**{**first, "price": 1, "synopsis": "Added by staff."})

    out = load_demo_catalog(count=50)

    assert "Created 49 demo films; 1 already existed." in out
    assert seed_films() == seeds
    own.refresh_from_db()
    assert (own.price, own.synopsis) == (1, "Added by staff.")
    assert Vod.objects.filter(title=first["title"]).count() == 1


def test_the_generator_is_deterministic():
    films = list(demo_films(count=2000))

    assert films == list(demo_films(count=2000))
    assert list(demo_films(count=300)) == films[:300]


def test_generated_films_are_plausible():
    films = list(demo_films(count=20_000))

    assert {film["genre"] for film in films} == set(Genre.values)
    assert all(1950 <= film["release_year"] <= 2025 for film in films)
    assert all(75 <= film["runtime_minutes"] <= 180 for film in films)
    assert {film["price"] for film in films} <= PRICES
    assert all(film["title"] and film["synopsis"] for film in films)

    def mean(field: str, genre: str) -> float:
        return statistics.mean(film[field] for film in films if film["genre"] == genre)

    assert mean("runtime_minutes", "animation") < mean("runtime_minutes", "drama")
    recent = [film["price"] for film in films if film["release_year"] >= 2023]
    old = [film["price"] for film in films if film["release_year"] < 1990]
    assert statistics.mean(recent) > 2 * statistics.mean(old)


def test_200_000_generated_titles_are_unique_and_never_a_seed_films():
    titles = [film["title"] for film in demo_films(count=200_000)]

    assert len(set(titles)) == len(titles) == 200_000
    assert SEED_TITLES.isdisjoint(titles)
    assert max(map(len, titles)) <= Vod._meta.get_field("title").max_length


def test_generator_refuses_a_negative_count():
    with pytest.raises(ValueError, match="zero or more"):
        next(demo_films(count=-1))


def test_a_synopsis_is_set_in_the_city_its_title_names_and_no_other():
    named = 0
    for film in demo_films(count=3000):
        city = title_city(film["title"])
        if city is None:
            continue  # (a title naming no city may be set anywhere)
        named += 1
        assert city in film["synopsis"], film
        # ("Neo-Seoul", a sci-fi setting, is not Seoul; no city is inside another's name)
        synopsis = film["synopsis"].replace(city, "").replace("Neo-Seoul", "")
        assert not [other for other in CITIES if other in synopsis], film
    assert named > 300  # "Summer in Dublin", "The Harbor of Busan" and their sequels


def test_the_city_of_a_title_is_read_back():
    assert title_city("Summer in Dublin") == "Dublin"
    assert title_city("The Harbor of Mexico City") == "Mexico City"
    assert title_city("Summer in Dublin II") is None  # (a sequel's series knows its city)
    assert title_city("Echoes of the Iron Valley") is None
