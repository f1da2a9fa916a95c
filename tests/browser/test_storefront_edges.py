"""The storefront's edges in a real browser (Chromium): the catalog's orders and its
"owned" mark, the header on a phone (with its menu, also without JavaScript), the
pagination on a phone, Watch on a phone's first screen, and poster titles that wrap
between words."""

import itertools

import pytest
from playwright.sync_api import Browser, Page, expect

from catalog.models import Vod
from catalog.views import PAGE_SIZE
from mileage.models import MileageAccount
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_journeys import buy_by_card, log_in
from tests.conftest import make_user

# title, genre, year, price: added in this order, so the last one is the newest
FILMS = [
    ("Alive!", "horror", 2020, 3500),
    ("ToBusan", "action", 2016, 4500),
    ("The Silent Harbor", "drama", 2019, 5500),
    ("Paper Moon over Jeju", "romance", 2023, 9900),
    ("Iron Valley", "sci-fi", 2024, 12000),
    ("Honeymoon", "comedy", 2021, 7700),
    ("Crimson Garden", "thriller", 2018, 2500),
    ("Rivers of Seoul", "documentary", 2022, 0),
]
LONG_USERNAME = "alexandra.montgomery-whitfield"


def add_film(title: str, genre: str = "drama", year: int = 2020, price: int = 3000) -> Vod:
    return Vod.objects.create(
        title=title,
        genre=genre,
        release_year=year,
        runtime_minutes=100,
        price=price,
        synopsis=f"{title}: a film made for the tests.",
    )


@pytest.fixture
def films(transactional_db) -> dict[str, Vod]:
    Vod.objects.all().delete()  # a flushed database may or may not hold the seed films
    return {title: add_film(title, genre, year, price) for title, genre, year, price in FILMS}


def card_titles(page: Page) -> list[str]:
    return page.locator(".film-card__title").all_inner_texts()


def sort_link(page: Page, name: str):
    return page.get_by_role("navigation", name="Sort by").get_by_role("link", name=name)


# -- sorting -----------------------------------------------------------------------------
def test_the_catalog_sorts_by_newest_title_price_and_year(page: Page, films, screenshot):
    page.goto("/")
    newest = [title for title, *_ in reversed(FILMS)]
    expect(page.locator(".film-card__title")).to_have_text(newest)
    expect(sort_link(page, "Newest")).to_have_attribute("aria-current", "true")

    sort_link(page, "Title").click()
    expect(page).to_have_url("/?sort=title")
    expect(page.locator(".film-card__title")).to_have_text(sorted(title for title, *_ in FILMS))
    expect(sort_link(page, "Title")).to_have_attribute("aria-current", "true")
    expect(sort_link(page, "Newest")).not_to_have_attribute("aria-current", "true")
    screenshot(page, "catalog-sorted")

    sort_link(page, "Price").click()
    by_price = [t for t, _g, _y, _p in sorted(FILMS, key=lambda film: (film[3], film[0]))]
    expect(page.locator(".film-card__title")).to_have_text(by_price)
    assert page.locator(".film-card .price").first.inner_text() == "Free"

    sort_link(page, "Year").click()
    by_year = [t for t, _g, _y, _p in sorted(FILMS, key=lambda film: -film[2])]
    expect(page.locator(".film-card__title")).to_have_text(by_year)

    # a search keeps the order, and the order keeps the search
    page.get_by_label("Search by title").fill("o")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url("/?q=o&genre=&sort=year")
    with_o = [t for t in by_year if "o" in t.lower()]
    expect(page.locator(".film-card__title")).to_have_text(with_o)
    sort_link(page, "Title").click()
    expect(page).to_have_url("/?q=o&genre=&sort=title")
    expect(page.locator(".film-card__title")).to_have_text(sorted(with_o))

    # a genre too; back to newest drops the parameter
    page.get_by_label("Search by title").fill("")
    page.get_by_label("Genre").select_option("drama")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url("/?q=&genre=drama&sort=title")
    expect(page.locator(".film-card__title")).to_have_text(["The Silent Harbor"])
    sort_link(page, "Newest").click()
    expect(page).to_have_url("/?q=&genre=drama")

    # an order that does not exist: the newest films, no error
    response = page.goto("/?sort=cheapest%27--")
    assert response is not None and response.status == 200
    expect(page.locator(".film-card__title")).to_have_text(newest)
    expect(sort_link(page, "Newest")).to_have_attribute("aria-current", "true")


def test_the_order_is_kept_from_page_to_page(page: Page, transactional_db):
    Vod.objects.all().delete()
    Vod.objects.bulk_create(
        Vod(title=f"Film {n:02d}", genre="drama", release_year=2000, runtime_minutes=90, price=n)
        for n in range(PAGE_SIZE + 6)
    )
    page.goto("/?sort=price")
    expect(page.locator(".film-card__title").first).to_have_text("Film 00")
    page.get_by_role("link", name="Next →").click()
    expect(page).to_have_url("/?sort=price&page=2")
    expect(page.locator(".film-card__title")).to_have_text(
        [f"Film {n:02d}" for n in range(PAGE_SIZE, PAGE_SIZE + 6)]
    )
    expect(sort_link(page, "Price")).to_have_attribute("aria-current", "true")
    # another order starts again from page 1
    sort_link(page, "Title").click()
    expect(page).to_have_url("/?sort=title")


# -- the owned mark ----------------------------------------------------------------------
def test_films_the_user_owns_are_marked_in_the_catalog(page: Page, films, gateway, screenshot):
    make_user("minji")
    page.goto("/")
    expect(page.locator(".film-card__owned")).to_have_count(0)
    log_in(page, "minji")
    buy_by_card(page, films["Honeymoon"])
    buy_by_card(page, films["Iron Valley"])

    page.goto("/?sort=title")
    owned = page.locator(".film-card").filter(has=page.locator(".film-card__owned"))
    expect(owned).to_have_count(2)
    expect(owned.locator(".film-card__title")).to_have_text(["Honeymoon", "Iron Valley"])
    expect(owned.first.locator(".film-card__owned")).to_have_text("In your library")
    owned.first.scroll_into_view_if_needed()
    screenshot(page, "catalog-owned")
    # the mark is the user's own: someone else sees none
    page.context.clear_cookies()
    make_user("doyun")
    log_in(page, "doyun")
    page.goto("/")
    expect(page.locator(".film-card__owned")).to_have_count(0)


# -- the header on a phone ---------------------------------------------------------------
def header_rows(page: Page, width: int = PHONE["width"]) -> int:
    """How many rows the header's visible pieces take (the brand, the balance, the Menu
    button; on a wide screen each link and the account's pieces too), after checking
    that no piece wraps its own text and none sticks out."""
    boxes = page.evaluate(
        """() => [...document.querySelectorAll(
              '.site-header__inner > :not(details), .site-menu > summary, '
              + '.site-nav__links > li, .site-nav__account > *')]
            .filter(el => el.checkVisibility())
            .map(el => {
              const box = el.getBoundingClientRect();
              const style = getComputedStyle(el);
              return {
                name: el.className, top: box.top, height: box.height,
                right: box.right, lineHeight: parseFloat(style.lineHeight) || 0,
                fontSize: parseFloat(style.fontSize),
              };
            })"""
    )
    assert boxes, "the header shows nothing"
    for box in boxes:
        one_line = max(box["lineHeight"], box["fontSize"] * 1.6)
        # a piece's own text is on one line (padding and borders aside)
        assert box["height"] <= one_line + 24, box
        assert box["right"] <= width, box
    tops = sorted(box["top"] for box in boxes)
    rows = 1
    for before, after in itertools.pairwise(tops):
        if after - before > 16:
            rows += 1
    return rows


def test_the_header_fits_a_phone_in_two_rows_with_a_long_username(page: Page, films, screenshot):
    make_user(LONG_USERNAME)
    page.set_viewport_size(PHONE)
    for signed_in in (False, True):
        if signed_in:
            log_in(page, LONG_USERNAME)
        page.goto("/")
        assert header_rows(page) <= 2
        header = page.locator(".site-header").bounding_box()
        assert header is not None and header["height"] <= 2 * 56
        # the menu is closed: its links are hidden until it opens
        menu = page.get_by_role("navigation", name="Main")
        expect(menu).to_be_hidden()
        page.locator(".site-menu__toggle").click()
        expect(menu.get_by_role("link", name="Films")).to_be_visible()
        page.locator(".site-menu__toggle").click()
        expect(menu).to_be_hidden()
    screenshot(page, "catalog-phone")

    # the username leads to the account page, from the menu
    page.locator(".site-menu__toggle").click()
    menu = page.get_by_role("navigation", name="Main")
    user_link = menu.get_by_role("link", name=f"Your account: {LONG_USERNAME}")
    log_out = menu.get_by_role("button", name="Log out")
    for piece in (user_link, log_out):  # side by side, the long name cut short, inside
        expect(piece).to_be_visible()
        box = piece.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    user_link.click()
    expect(page).to_have_url("/accounts/")
    # on a desktop, no Menu button: the links are there
    page.set_viewport_size(DESKTOP)
    page.goto("/")
    expect(page.locator(".site-menu__toggle")).to_be_hidden()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="My library")
    ).to_be_visible()


@pytest.mark.parametrize("width", [320, 390, 800, 1101, 1280])
def test_a_staff_members_header_with_a_long_name_stays_short_at_every_width(
    page: Page, transactional_db, width
):
    user = make_user(LONG_USERNAME, is_staff=True)  # the longest menu: Admin too
    MileageAccount.objects.create(user=user, balance=-125_000)  # a wide balance
    log_in(page, LONG_USERNAME)
    page.set_viewport_size({"width": width, "height": 800})
    page.goto("/")
    expect(page.locator(".balance-chip")).to_contain_text("-125,000 points")
    assert header_rows(page, width) <= 2
    mark = page.locator(".brand__mark").bounding_box()
    assert mark is not None and mark["width"] >= 25  # never squeezed by its neighbours
    header = page.locator(".site-header").bounding_box()
    assert header is not None and header["height"] <= 2 * 56
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_phone_menu_works_without_javascript(browser: Browser, live_server, films, screenshot):
    make_user(LONG_USERNAME)
    context = browser.new_context(
        base_url=live_server.url, viewport=PHONE, locale="en-US", java_script_enabled=False
    )
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        form = page.locator("form.stacked-form")
        form.get_by_label("Username").fill(LONG_USERNAME)
        form.get_by_label("Password").fill("s3cret-pass-123")
        form.get_by_role("button", name="Log in").click()
        expect(page.locator(".balance-chip")).to_be_visible()

        menu = page.get_by_role("navigation", name="Main")
        expect(menu).to_be_hidden()
        toggle = page.get_by_role("group").locator("summary")
        expect(toggle).to_have_text("Menu")
        toggle.click()
        expect(menu.get_by_role("link", name="My library")).to_be_visible()
        expect(menu.get_by_role("button", name="Log out")).to_be_visible()
        screenshot(page, "header-phone-menu")
        menu.get_by_role("link", name="My purchases").click()
        expect(page).to_have_url("/purchases/")
        expect(menu).to_be_hidden()  # a new page starts with the menu closed
    finally:
        context.close()


def test_the_pagination_stays_on_one_line_on_a_phone(page: Page, transactional_db):
    Vod.objects.all().delete()
    Vod.objects.bulk_create(
        Vod(title=f"Film {n}", genre="drama", release_year=2000, runtime_minutes=90, price=100)
        for n in range(PAGE_SIZE * 12)
    )
    page.set_viewport_size(PHONE)
    page.goto("/?page=10")
    pieces = page.locator(".pagination > *")
    expect(pieces).to_have_count(3)
    boxes = [pieces.nth(i).bounding_box() for i in range(3)]
    assert all(box is not None for box in boxes)
    centres = [box["y"] + box["height"] / 2 for box in boxes]
    assert max(centres) - min(centres) < 4, boxes  # Previous, "Page 10 of 12", Next: one row
    assert boxes[2]["x"] + boxes[2]["width"] <= PHONE["width"]


def test_watch_is_on_a_phones_first_screen(page: Page, films, gateway):
    vod = films["Paper Moon over Jeju"]
    make_user(LONG_USERNAME)
    page.set_viewport_size(PHONE)
    log_in(page, LONG_USERNAME)
    buy_by_card(page, vod)
    page.goto(f"/films/{vod.pk}/")
    watch = page.locator(".buy-panel").get_by_role("link", name="Watch")
    box = watch.bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["height"], box


# -- poster titles ---------------------------------------------------------------------
# The longest words the demo catalog puts in titles, and a few real ones.
LONG_TITLES = [
    "Honeymoon",
    "The Bulletproof Inheritance",
    "Upside-Down Lighthouse",
    "Extraction of Vladivostok",
    "The Marvelous Babysitter",
    "Valparaiso Karaoke Night",
]


def broken_words(page: Page) -> list[str]:
    """Words of poster titles that the browser split across two lines."""
    return page.evaluate(
        """() => {
          const broken = [];
          for (const title of document.querySelectorAll('.poster__title')) {
            const text = title.firstChild;
            const re = /\\S+/g;
            let match;
            while ((match = re.exec(text.data))) {
              const range = document.createRange();
              range.setStart(text, match.index);
              range.setEnd(text, match.index + match[0].length);
              const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
              if (tops.size > 1) broken.push(match[0]);
            }
          }
          return broken;
        }"""
    )


@pytest.mark.parametrize("width", [DESKTOP["width"], 1000, 800, PHONE["width"], 320])
def test_poster_titles_wrap_between_words(page: Page, transactional_db, width):
    Vod.objects.all().delete()
    for title in LONG_TITLES:
        add_film(title, genre="comedy")
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/")
    expect(page.locator(".poster__title")).to_have_count(len(LONG_TITLES))
    assert broken_words(page) == []
    # and the film page's big poster
    vod = Vod.objects.get(title="The Bulletproof Inheritance")
    page.goto(f"/films/{vod.pk}/")
    assert broken_words(page) == []
