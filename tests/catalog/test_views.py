"""Storefront pages of the catalog: list, search, genre filter, pages, detail, login."""

import html
import re
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import Genre, Vod
from catalog.views import PAGE_SIZE
from purchase.models import Purchase
from tests.conftest import make_user


def make_vod(title="Quiet Harbour", **fields):
    values = {
        "title": title,
        "synopsis": "A film made for the tests.",
        "genre": Genre.DRAMA,
        "release_year": 2020,
        "runtime_minutes": 110,
        "price": 12000,
    }
    values.update(fields)
    return Vod.objects.create(**values)


def list_url(**params):
    return reverse("catalog:list") + ("?" + urlencode(params) if params else "")


@pytest.mark.django_db
def test_list_shows_active_titles(client):
    make_vod("Quiet Harbour")
    make_vod("Neon Rain", genre=Genre.SCI_FI)

    response = client.get(list_url())

    assert response.status_code == 200
    assert "Quiet Harbour" in response.content.decode()
    assert "Neon Rain" in response.content.decode()


@pytest.mark.django_db
def test_search_filters_by_title_case_insensitively(client):
    make_vod("Quiet Harbour")
    make_vod("Neon Rain")

    response = client.get(list_url(q="harbour"))

    body = response.content.decode()
    assert "Quiet Harbour" in body
    assert "Neon Rain" not in body
    assert 'value="harbour"' in body


@pytest.mark.django_db
def test_genre_filter_shows_only_that_genre(client):
    make_vod("Midnight Scream", genre=Genre.HORROR)
    make_vod("Neon Rain", genre=Genre.SCI_FI)

    response = client.get(list_url(genre="horror"))

    body = response.content.decode()
    assert "Midnight Scream" in body
    assert "Neon Rain" not in body


@pytest.mark.django_db
def test_invalid_genre_shows_every_film_without_error(client):
    make_vod("Midnight Scream", genre=Genre.HORROR)
    make_vod("Neon Rain", genre=Genre.SCI_FI)

    response = client.get(list_url(genre="no-such-genre"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Midnight Scream" in body
    assert "Neon Rain" in body


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["0", "-1", "abc", "99999", "", "1.5"])
def test_bad_page_numbers_answer_200(client, page):
    make_vod()

    response = client.get(list_url(page=page))

    assert response.status_code == 200


@pytest.mark.django_db
def test_pages_hold_page_size_films_and_links_keep_the_query(client):
    for number in range(PAGE_SIZE + 3):
        make_vod(f"Harbour Tale {number:02d}", genre=Genre.COMEDY)

    first = client.get(list_url(q="harbour tale", genre="comedy"))
    second = client.get(list_url(q="harbour tale", genre="comedy", page=2))

    assert len(titles(first)) == PAGE_SIZE
    assert len(titles(second)) == 3
    first_body = first.content.decode()
    assert "?q=harbour+tale&amp;genre=comedy&amp;page=2" in first_body
    assert "?q=harbour+tale&amp;genre=comedy&amp;page=1" in second.content.decode()


@pytest.mark.django_db
def test_list_query_count_does_not_grow_with_the_number_of_films(client):
    for number in range(5):
        make_vod(f"Film {number}")
    with CaptureQueriesContext(connection) as few:
        assert client.get(list_url()).status_code == 200

    for number in range(5, 30):
        make_vod(f"Film {number}")
    with CaptureQueriesContext(connection) as many:
        response = client.get(list_url())

    assert len(titles(response)) == PAGE_SIZE
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.django_db
def test_inactive_film_is_hidden_from_the_list(client):
    make_vod("Withdrawn Picture", is_active=False)

    response = client.get(list_url())

    assert "Withdrawn Picture" not in response.content.decode()


@pytest.mark.django_db
def test_detail_shows_the_film_with_price_in_won(client):
    vod = make_vod(
        "Quiet Harbour", price=12000, release_year=2019, runtime_minutes=118, genre=Genre.DRAMA
    )

    response = client.get(reverse("catalog:detail", args=[vod.pk]))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Quiet Harbour" in body
    assert "₩12,000" in body
    assert "2019" in body
    assert "118 minutes" in body
    assert "Drama" in body
    assert "A film made for the tests." in body


@pytest.mark.django_db
def test_detail_of_a_free_film_says_free(client):
    vod = make_vod("Open Air", price=0)

    response = client.get(reverse("catalog:detail", args=[vod.pk]))

    assert "Free" in response.content.decode()
    assert "₩0" not in response.content.decode()


@pytest.mark.django_db
def test_detail_without_poster_shows_a_genre_placeholder_with_the_title(client):
    vod = make_vod("Midnight Scream", genre=Genre.HORROR, poster_url="")

    body = client.get(reverse("catalog:detail", args=[vod.pk])).content.decode()

    assert "poster--horror" in body
    assert 'aria-label="Poster of Midnight Scream"' in body


@pytest.mark.django_db
def test_detail_with_poster_shows_the_image_with_alt_text(client):
    vod = make_vod("Neon Rain", poster_url="https://img.example.com/neon.jpg")

    body = client.get(reverse("catalog:detail", args=[vod.pk])).content.decode()

    assert 'src="https://img.example.com/neon.jpg"' in body
    assert 'alt="Poster of Neon Rain"' in body


@pytest.mark.django_db
def test_detail_of_unknown_film_is_404(client):
    response = client.get(reverse("catalog:detail", args=[999_999]))

    assert response.status_code == 404


@pytest.mark.django_db
def test_detail_of_inactive_film_is_404(client):
    vod = make_vod("Withdrawn Picture", is_active=False)

    response = client.get(reverse("catalog:detail", args=[vod.pk]))

    assert response.status_code == 404


@pytest.mark.django_db
def test_login_page_renders_with_form_and_next(client):
    response = client.get(reverse("login") + "?next=/films/1/")

    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="username"' in body
    assert 'name="password"' in body
    assert 'name="next" value="/films/1/"' in body
    assert "csrfmiddlewaretoken" in body


@pytest.mark.django_db
def test_header_offers_log_in_to_visitors_and_log_out_to_members(client, django_user_model):
    visitor_body = client.get(list_url()).content.decode()
    assert reverse("login") + "?next=/" in visitor_body

    user = django_user_model.objects.create_user(username="mina", password="pw-for-tests-1")
    client.force_login(user)
    member_body = client.get(list_url()).content.decode()

    assert "mina" in member_body
    assert f'action="{reverse("logout")}"' in member_body
    assert "/admin/" not in member_body


@pytest.mark.django_db
def test_header_links_admin_for_staff(client, django_user_model):
    staff = django_user_model.objects.create_user(
        username="editor", password="pw-for-tests-1", is_staff=True
    )
    client.force_login(staff)

    body = client.get(list_url()).content.decode()

    assert 'href="/admin/"' in body


# -- sorting ---------------------------------------------------------------------------
def titles(response) -> list[str]:
    """The titles of the page's film cards, in order."""
    found = re.findall(r'<span class="film-card__title">([^<]*)</span>', response.content.decode())
    return [html.unescape(title) for title in found]


@pytest.fixture
def three_films(db):
    Vod.objects.all().delete()
    make_vod("Bravo", price=5000, release_year=2001)
    make_vod("Charlie", price=1000, release_year=2020)
    make_vod("Alpha", price=9000, release_year=1999)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, ["Alpha", "Charlie", "Bravo"]),  # newest added first
        ("newest", ["Alpha", "Charlie", "Bravo"]),
        ("title", ["Alpha", "Bravo", "Charlie"]),
        ("price", ["Charlie", "Bravo", "Alpha"]),  # cheapest first
        ("year", ["Charlie", "Bravo", "Alpha"]),  # latest first
    ],
)
def test_the_list_sorts_by_newest_title_price_or_year(client, three_films, sort, expected):
    response = client.get(list_url(**({"sort": sort} if sort else {})))

    assert response.status_code == 200
    assert titles(response) == expected
    assert response.context["sort"] == (sort or "newest")


@pytest.mark.django_db
@pytest.mark.parametrize("sort", ["", "cheapest", "-price", "TITLE", "price;drop", "x" * 500])
def test_an_unknown_sort_shows_the_newest_films(client, three_films, sort):
    response = client.get(list_url(sort=sort))

    assert response.status_code == 200
    assert titles(response) == ["Alpha", "Charlie", "Bravo"]
    assert response.context["sort"] == "newest"


@pytest.mark.django_db
def test_the_sort_links_keep_the_search_and_genre_and_the_form_keeps_the_sort(client, three_films):
    body = client.get(list_url(q="a", genre="drama", sort="price", page=1)).content.decode()

    assert 'href="/?q=a&amp;genre=drama&amp;sort=title"' in body  # back to page 1
    assert 'href="/?q=a&amp;genre=drama"' in body  # newest: the default, no parameter
    assert '<input type="hidden" name="sort" value="price">' in body
    assert 'aria-current="true">Price<' in body


@pytest.mark.django_db
def test_the_storefront_search_ignores_spaces_and_case(client):
    make_vod("ToBusan")
    make_vod("To Busan")
    make_vod("Busan Nights")

    assert set(titles(client.get(list_url(q="to busan")))) == {"ToBusan", "To Busan"}
    assert set(titles(client.get(list_url(q="TOBUSAN")))) == {"ToBusan", "To Busan"}


# -- the owned mark --------------------------------------------------------------------
@pytest.mark.django_db
def test_films_the_user_owns_are_marked_at_the_cost_of_one_query(client, three_films):
    buyer = make_user("owner")
    alpha = Vod.objects.get(title="Alpha")
    Purchase.objects.create(
        user=buyer,
        vod_id=alpha.id,
        vod_title=alpha.title,
        payment_method="card",
        amount=alpha.price,
    )
    client.get(list_url())  # the list is kept: from here on, what differs is per user
    client.force_login(make_user("stranger"))
    with CaptureQueriesContext(connection) as strangers:
        body = client.get(list_url()).content.decode()
    assert "film-card__owned" not in body

    client.force_login(buyer)
    with CaptureQueriesContext(connection) as owners:
        body = client.get(list_url()).content.decode()
    assert body.count("film-card__owned") == 1
    assert len(owners.captured_queries) == len(strangers.captured_queries)

    client.logout()
    with CaptureQueriesContext(connection) as visitors:
        body = client.get(list_url()).content.decode()
    assert "film-card__owned" not in body
    # a visitor: no session, no user, no balance and no purchases to read
    assert len(visitors.captured_queries) < len(owners.captured_queries)
    owned_query = [q["sql"] for q in owners.captured_queries if "purchase_purchase" in q["sql"]]
    assert len(owned_query) == 1
