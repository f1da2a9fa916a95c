"""The storefront's kept pages (`catalog.pages`): a change to a film shows on every kept
page at once; what is a visitor's own (header, balance, owned marks, buy box) never
reaches another visitor; pages a proxy may keep say so, and signed-in ones never do;
each page's queries, counted."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import Genre, VodMedia
from catalog.services import vod_update
from purchase.services import purchase_create
from tests.conftest import make_user, make_vod

pytestmark = pytest.mark.django_db


def film_url(film) -> str:
    return reverse("catalog:detail", args=[film.id])


PAGES = [
    "/",
    "/?page=2",
    "/?genre=comedy",
    "/?q=harbour",
    "/?q=harbour&genre=comedy&sort=title",
]


@pytest.fixture
def films(db):
    """30 comedies whose titles have "Harbour" in them (two pages of the list)."""
    return [
        make_vod(title=f"Harbour Tale {n:02d}", genre=Genre.COMEDY, price=4000 + n)
        for n in range(30)
    ]


BALANCE = '<span class="balance-chip__icon" aria-hidden="true">★</span>1,000 points'


def visible(response) -> str:
    return response.content.decode()


# -- a change shows at once --------------------------------------------------------------
def a_change_shows_on_every_kept_page(client, films) -> None:
    film = films[-1]  # the newest: on the first page of every list above
    film_page = film_url(film)
    for url in [*PAGES, film_page]:
        assert client.get(url).status_code == 200  # kept now
    before = {url: visible(client.get(url)) for url in [*PAGES, film_page]}
    shown = [url for url, page in before.items() if "Harbour Tale 29" in page]
    assert shown == ["/", "/?genre=comedy", "/?q=harbour", film_page]

    vod_update(vod=film, data={"title": "Harbour Tale Renamed", "price": 9900})

    for url in [*PAGES, film_page]:
        page = visible(client.get(url))
        assert ("Harbour Tale Renamed" in page) == (url in shown), url
        assert "Harbour Tale 29" not in page, url
    assert "₩9,900" in visible(client.get(film_page))

    vod_update(vod=film, data={"is_active": False})  # retired: gone from every page
    for url in PAGES:
        assert "Harbour Tale Renamed" not in visible(client.get(url)), url
    assert client.get(film_page).status_code == 404


def test_a_film_change_shows_on_every_kept_page_at_once(client, films):
    a_change_shows_on_every_kept_page(client, films)


def test_the_same_with_redis_and_each_process_near_copy(client, films, redis_cache):
    a_change_shows_on_every_kept_page(client, films)


def test_the_same_for_a_signed_in_visitor(client, films, redis_cache):
    client.force_login(make_user())
    a_change_shows_on_every_kept_page(client, films)


def test_a_new_film_and_the_count_show_at_once(client, films):
    assert "30 films" in visible(client.get("/?genre=comedy"))
    make_vod(title="Harbour Late Arrival", genre=Genre.COMEDY)
    page = visible(client.get("/?genre=comedy"))
    assert "31 films" in page and "Harbour Late Arrival" in page
    assert "Page 1 of 2" in page


# -- nothing of one visitor reaches another ----------------------------------------------
def test_two_users_never_see_each_others_header_balance_marks_or_buy_box(client, films, committed):
    alice, bob = make_user("alice-owner"), make_user("bob-stranger")
    with committed():
        owned = purchase_create(user_id=alice.id, vod_id=films[-1].id).purchase
    assert owned.status == "paid"
    film_page = film_url(films[-1])
    other_film = film_url(films[-2])

    pages = {}
    for who in (alice, bob, alice, bob, None):
        if who is None:
            client.logout()
        else:
            client.force_login(who)
        for url in [*PAGES, film_page, other_film]:
            pages.setdefault((who and who.username, url), []).append(visible(client.get(url)))

    for url in [*PAGES, film_page, other_film]:
        for page in pages[("alice-owner", url)]:
            assert "alice-owner" in page and "bob-stranger" not in page
            assert BALANCE in page  # alice's balance, in her header
        for page in pages[("bob-stranger", url)]:
            assert "bob-stranger" in page and "alice-owner" not in page
            assert BALANCE not in page and "film-card__owned" not in page
            assert "★</span>0 points" in page  # his own balance
        for page in pages[(None, url)]:
            assert "alice-owner" not in page and "bob-stranger" not in page
            assert "film-card__owned" not in page and "balance-chip" not in page
    for page in pages[("alice-owner", "/")]:
        assert page.count("film-card__owned") == 1
    for page in pages[("alice-owner", film_page)]:
        assert "You bought this film" in page and "button--watch" in page
    for page in pages[("bob-stranger", film_page)]:
        assert "You bought this film" not in page and 'class="buy-form"' in page
    for page in pages[(None, film_page)]:
        assert "You bought this film" not in page and '<form method="post" action' not in page


def test_each_buy_form_has_its_own_key_though_the_page_is_kept(client, films):
    client.force_login(make_user())
    keys = [
        re.findall(r'name="idempotency_key" value="([^"]+)"', visible(client.get(film_url(f))))
        for f in (films[0], films[0])
    ]
    assert len(keys[0]) == 2 and set(keys[0]).isdisjoint(keys[1])


def test_a_language_never_reaches_another(client, films):
    english = visible(client.get("/", HTTP_ACCEPT_LANGUAGE="en"))
    korean = visible(client.get("/", HTTP_ACCEPT_LANGUAGE="ko"))
    again = visible(client.get("/", HTTP_ACCEPT_LANGUAGE="en"))
    assert 'lang="ko"' in korean and "영화" in korean
    assert 'lang="en"' in english and again == english and "영화" not in again


# -- what a proxy may keep ------------------------------------------------------------------
def test_a_visitors_page_may_be_kept_by_a_proxy(client, films):
    for url in [*PAGES, film_url(films[0])]:
        response = client.get(url)
        assert "public" in response["Cache-Control"] and "max-age=60" in response["Cache-Control"]
        assert {"Cookie", "Accept-Language"} <= {v.strip() for v in response["Vary"].split(",")}
        assert not response.cookies and "csrfmiddlewaretoken" not in visible(response)


def test_a_signed_in_page_never(client, films):
    client.force_login(make_user())
    for url in [*PAGES, film_url(films[0])]:
        control = client.get(url)["Cache-Control"]
        assert "private" in control and "no-store" in control and "public" not in control


def test_a_page_with_a_message_is_neither_kept_nor_public(client, films):
    client.force_login(make_user())
    client.post(reverse("logout"))  # "You are signed out." waits for the next page
    page = client.get("/")
    assert "You are signed out." in visible(page)
    assert "public" not in page["Cache-Control"]
    assert "You are signed out." not in visible(client.get("/"))  # said once, not kept


def test_an_address_with_other_parameters_is_not_kept_whole(client, films):
    response = client.get("/?utm_source=mail")
    assert response.status_code == 200 and "public" not in response["Cache-Control"]


# -- queries ----------------------------------------------------------------------------
def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as seen:
        assert client.get(url).status_code == 200
    return len(seen.captured_queries)


def test_a_visitors_pages_run_no_query_once_kept(client, films):
    urls = ["/", "/?page=2", "/?q=harbour", "/?genre=comedy", film_url(films[0])]
    # first view: the count (a list), the page's films (or the film and its trailer)
    assert [queries(client, url) for url in urls] == [
        2,
        1,  # the count is kept from the first page of the same list
        2,
        2,
        2,
    ]
    for url in urls:
        assert queries(client, url) == 0, url


def test_a_signed_in_visitors_pages_run_only_their_own_queries(client, films, committed):
    buyer = make_user()
    with committed():
        purchase_create(user_id=buyer.id, vod_id=films[0].id)
    client.force_login(buyer)
    film_page = film_url(films[1])
    for url in [*PAGES, film_page]:
        client.get(url)  # kept, and the balance too
    # the session with its account (one query: vodstore.sessions), nothing else: the
    # owned films and the balance come from their caches (the film page's buy box reads
    # no purchase: the film is not owned)
    for url in PAGES:
        assert queries(client, url) == 1, url
    assert queries(client, film_page) == 1
    # an owned film's page reads its purchase (the date, the link to it)
    client.get(film_url(films[0]))
    assert queries(client, film_url(films[0])) == 2


def test_library_and_purchases_pages_run_a_fixed_number_of_queries(client, films, committed):
    buyer = make_user()
    client.force_login(buyer)
    counts = []
    for n in (1, 10):
        with committed():
            for film in films[len(counts) * 10 : len(counts) * 10 + n]:
                purchase_create(user_id=buyer.id, vod_id=film.id)
        client.get("/")  # the header's balance, forgotten by the purchases, kept again
        counts.append(
            (
                queries(client, reverse("purchase:library")),
                queries(client, reverse("purchase:list")),
            )
        )
    # the same with 1 purchase as with 11: the session; the page's rows (no count: they
    # fit on one page), with the films' records for the library's cards
    assert counts[0] == counts[1] == (3, 2)


def test_a_trailer_added_to_a_film_shows_on_its_kept_page(client, films):
    page = film_url(films[0])
    assert 'id="trailer-title"' not in visible(client.get(page))
    VodMedia.objects.create(
        vod=films[0],
        kind="trailer",
        file=f"vods/{films[0].id}/trailer/t.mp4",
        content_type="video/mp4",
        duration_seconds=30.0,
        size_bytes=1000,
        width=640,
        height=360,
        codec="h264",
    )
    assert 'id="trailer-title"' in visible(client.get(page))
