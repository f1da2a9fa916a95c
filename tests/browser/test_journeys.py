"""What a buyer does in the store, in a real browser (Chromium) against the live server.

Each test checks what the user sees: messages, the balance in the header, the state of
the buttons. The pages it passes through are saved as docs/screenshots/*.png."""

import re
import threading
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.utils import translation
from playwright.sync_api import Page, expect

from catalog.models import Vod
from payment.guard import GuardConfig, PaymentGuard, reset_guard
from purchase.models import Purchase
from tests.browser.conftest import DESKTOP, PHONE
from tests.conftest import make_user

PASSWORD = "s3cret-pass-123"  # make_user's

# A small catalog that looks like a store (the newest film comes first).
FILMS = [
    ("Alive!", "horror", 2020, 98, 3500, "A young gamer wakes up to an infected apartment block."),
    ("ToBusan", "action", 2016, 118, 4500, "A father and daughter board the last train south."),
    ("The Silent Harbor", "drama", 2019, 112, 5500, "A ferry captain's last crossing."),
    ("Paper Moon over Jeju", "romance", 2023, 104, 9900, "Two strangers share an island summer."),
    ("Iron Valley", "sci-fi", 2024, 131, 12000, "Miners on a moon find what they buried."),
    ("The Lucky Stranger", "comedy", 2021, 95, 7700, "A lottery ticket changes hands ten times."),
    ("Crimson Garden", "thriller", 2018, 109, 4500, "A botanist keeps one secret too many."),
    ("Rivers of Seoul", "documentary", 2022, 88, 2500, "The Han and the city that grew on it."),
    ("The Seventh Kingdom", "fantasy", 2017, 126, 3500, "A map that redraws itself at night."),
    ("Little Copper Robot", "animation", 2025, 92, 15000, "A robot mends a town, toy by toy."),
]


def create_films(rows) -> dict[str, Vod]:
    """A catalog of exactly these films (title, genre, year, runtime, price, synopsis)."""
    Vod.objects.all().delete()  # a flushed database may or may not hold the seed films
    return {
        title: Vod.objects.create(
            title=title,
            genre=genre,
            release_year=year,
            runtime_minutes=runtime,
            price=price,
            synopsis=synopsis,
        )
        for title, genre, year, runtime, price, synopsis in rows
    }


@pytest.fixture
def films(transactional_db) -> dict[str, Vod]:
    return create_films(FILMS)


# -- what the user sees ------------------------------------------------------------------
def expect_balance(page: Page, figure: str) -> None:
    """The header's balance chip shows exactly `figure` ("1,000 points", "-1,000 points")."""
    chip = page.locator(".site-header .balance-chip")
    expect(chip).to_have_text(re.compile(rf"★\s*{re.escape(figure)}\s*$"))


def success(page: Page):
    return page.locator(".messages .message--success")


def error(page: Page):
    return page.locator(".messages .message--error")


def buy_button(page: Page, vod: Vod):
    return page.get_by_role("button", name=f"Buy for ₩{vod.price:,}")


def points_button(page: Page):
    return page.get_by_role("button", name=f"Use {settings.MILEAGE_FREE_VOD_COST:,} points")


def watch_link(page: Page):
    return page.locator(".buy-panel").get_by_role("link", name="Watch")


# -- doing things ------------------------------------------------------------------------
def label(text: str) -> re.Pattern:
    """A form field's label as Django writes it ("Password:")."""
    return re.compile(rf"^{re.escape(text)}:?$")


def fill_signup(page: Page, username: str) -> None:
    form = page.locator("form.stacked-form")
    form.get_by_label(label("Username")).fill(username)
    form.get_by_label(label("E-mail address")).fill(f"{username}@example.com")
    form.get_by_label(label("Password")).fill(PASSWORD)
    form.get_by_label(label("Password confirmation")).fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()


def fill_login(page: Page, username: str) -> None:
    form = page.locator("form.stacked-form")
    form.get_by_label(label("Username")).fill(username)
    form.get_by_label(label("Password")).fill(PASSWORD)
    form.get_by_role("button", name="Log in").click()


def log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    fill_login(page, username)
    # (attached, not visible: on a phone it is in the closed menu)
    expect(page.get_by_role("button", name="Log out", include_hidden=True)).to_have_count(1)


def buy_by_card(page: Page, vod: Vod) -> None:
    page.goto(f"/films/{vod.pk}/")
    buy_button(page, vod).click()
    bought = f"You bought “{vod.title}” for ₩{vod.price:,}. Enjoy the film!"
    expect(success(page)).to_have_text(bought)
    expect(watch_link(page)).to_be_visible()


def cancel(page: Page, vod: Vod) -> None:
    """Cancel from My purchases, through the confirmation page."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My purchases").click()
    row = page.get_by_role("row").filter(has_text=vod.title)
    expect(row.locator(".badge")).to_have_text("Paid")
    row.get_by_role("link", name=re.compile(r"^Cancel…")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Cancel “{vod.title}”?")
    page.get_by_role("button", name="Yes, cancel the purchase").click()
    expect(success(page)).to_contain_text(f"Cancelled “{vod.title}”")
    expect(page.get_by_role("row").filter(has_text=vod.title).locator(".badge")).to_have_text(
        "Cancelled"
    )


# -- the journeys ------------------------------------------------------------------------
def test_sign_up_buy_earn_spend_points_and_cancel(page: Page, films, gateway, screenshot):
    harbor = films["The Silent Harbor"]
    card_films = [harbor, films["ToBusan"], films["Alive!"], films["Crimson Garden"]]
    fifth, sixth = films["Rivers of Seoul"], films["Iron Valley"]

    # sign up from the catalog; a new account has no points
    page.goto("/")
    expect(page.locator(".film-card")).to_have_count(len(FILMS))
    screenshot(page, "catalog")
    page.locator(".site-header").get_by_role("link", name="Sign up").click()
    fill_signup(page, "minji")
    expect(success(page)).to_have_text("Welcome, minji! Your account is ready.")
    expect_balance(page, "0 points")

    # search, open the film, buy it by card
    page.get_by_label("Search by title").fill("harbor")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".result-count")).to_have_text("1 film")
    expect(page.locator(".film-card")).to_have_count(1)
    page.locator(".film-card").filter(has_text=harbor.title).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(harbor.title)
    expect(points_button(page)).to_be_disabled()
    expect(page.locator("#points-why")).to_have_text(
        "You have 0 points; a free film needs 5,000 points."
    )
    buy_button(page, harbor).click()
    expect(success(page)).to_have_text("You bought “The Silent Harbor” for ₩5,500. Enjoy the film!")
    expect(watch_link(page)).to_be_visible()
    expect(page.locator(".buy-panel .badge")).to_have_text("In your library")
    expect(buy_button(page, harbor)).to_have_count(0)
    expect_balance(page, "1,000 points")

    # it is in my library, and its Watch page opens (this film has no video made:
    # tests/browser/test_watching.py plays one)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My library").click()
    expect(page.locator(".page-head .muted")).to_have_text("1 film you own")
    page.locator(".film-card").filter(has_text=harbor.title).click()
    expect(page.get_by_role("region", name=f"Video player: {harbor.title}")).to_be_visible()
    screenshot(page, "watch-without-video")

    # three more by card: not enough points yet, and the page says why
    for vod in card_films[1:]:
        buy_by_card(page, vod)
    expect_balance(page, "4,000 points")
    page.goto(f"/films/{sixth.pk}/")
    expect(points_button(page)).to_be_disabled()
    expect(page.locator("#points-why")).to_have_text(
        "You have 4,000 points; a free film needs 5,000 points."
    )

    # the fifth card purchase makes 5,000: the points button is enabled on the sixth film
    buy_by_card(page, fifth)
    expect_balance(page, "5,000 points")
    page.goto(f"/films/{sixth.pk}/")
    expect(points_button(page)).to_be_enabled()
    expect(buy_button(page, sixth)).to_be_enabled()
    expect(page.locator(".buy-panel")).to_contain_text("You have 5,000 points.")
    screenshot(page, "film")
    page.set_viewport_size(PHONE)
    screenshot(page, "film-phone")
    page.set_viewport_size(DESKTOP)

    points_button(page).click()
    expect(success(page)).to_have_text("You got “Iron Valley” for 5,000 points. Enjoy the film!")
    expect(watch_link(page)).to_be_visible()
    expect_balance(page, "0 points")
    assert len(gateway.charges) == 5  # the free film charged no card

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My library").click()
    expect(page.locator(".page-head .muted")).to_have_text("6 films you own")
    screenshot(page, "library")

    # cancel a card purchase: its 1,000 points are clawed back, below zero
    cancel(page, harbor)
    expect(success(page)).to_have_text(
        "Cancelled “The Silent Harbor”: ₩5,500 will be refunded to your card and the "
        "1,000 points it earned taken back."
    )
    expect_balance(page, "-1,000 points")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My mileage").click()
    expect(page.get_by_test_id("mileage-balance")).to_have_text("-1,000 points")
    harbor_purchase = Purchase.objects.get(vod_id=harbor.pk)
    taken_back = page.get_by_role("row").filter(has_text="Taken back:")
    expect(taken_back).to_have_count(1)
    expect(taken_back.locator(".ledger__what")).to_have_text(
        "Taken back: The Silent Harbor was cancelled"
    )
    expect(taken_back.locator(".delta")).to_have_text("-1,000 points")
    expect(taken_back.get_by_role("link")).to_have_attribute(
        "href", f"/purchases/{harbor_purchase.pk}/"
    )
    expect(page.get_by_test_id("negative-balance")).to_contain_text(
        "Why is the balance below zero?"
    )

    # cancel the free one: its 5,000 points come back
    cancel(page, sixth)
    expect(success(page)).to_have_text(
        "Cancelled “Iron Valley”: your 5,000 points will be returned."
    )
    expect_balance(page, "4,000 points")
    expect(page.get_by_role("row").filter(has_text="Cancelled")).to_have_count(2)
    screenshot(page, "purchases")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My mileage").click()
    expect(page.get_by_test_id("mileage-balance")).to_have_text("4,000 points")
    refund = page.get_by_role("row").filter(has_text="Returned: Iron Valley was cancelled")
    expect(refund.locator(".delta")).to_have_text("+5,000 points")
    expect(page.get_by_role("row").filter(has_text="Earned for buying")).to_have_count(5)
    expect(page.get_by_role("row").filter(has_text="Spent on Iron Valley")).to_have_count(1)
    expect(page.get_by_test_id("negative-balance")).to_have_count(0)
    screenshot(page, "mileage")
    assert gateway.refunds == [gateway.charges[0][0]]


@pytest.mark.parametrize("way_in", ["log in", "sign up"])
def test_anonymous_buy_goes_through_login_and_back(page: Page, films, way_in):
    vod = films["ToBusan"]
    make_user("jisoo")
    page.goto(f"/films/{vod.pk}/")
    expect(page.locator(".buy-panel")).to_contain_text("Log in or sign up to buy this film.")
    page.locator(".buy-panel").get_by_role("link", name=f"Buy for ₩{vod.price:,}").click()

    expect(page).to_have_url(re.compile(r"/accounts/login/\?"))
    assert parse_qs(urlsplit(page.url).query) == {"next": [f"/films/{vod.pk}/?buy=1"]}
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    if way_in == "log in":
        fill_login(page, "jisoo")
    else:
        page.get_by_role("link", name="Create an account").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")
        fill_signup(page, "haneul")
        expect(success(page)).to_have_text("Welcome, haneul! Your account is ready.")

    expect(page).to_have_url(re.compile(rf"/films/{vod.pk}/\?buy=1$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(vod.title)
    expect(page.locator(".buy-panel__welcome")).to_have_text(
        f"You are logged in: you can buy “{vod.title}” now."
    )
    expect_balance(page, "0 points")
    buy_button(page, vod).click()
    expect(success(page)).to_have_text(f"You bought “{vod.title}” for ₩4,500. Enjoy the film!")
    expect(watch_link(page)).to_be_visible()
    expect_balance(page, "1,000 points")
    assert Purchase.objects.filter(vod_id=vod.pk).count() == 1


def test_busy_message_when_the_payment_guard_is_open(page: Page, films, gateway, screenshot):
    vod = films["Paper Moon over Jeju"]
    make_user("doyun")
    log_in(page, "doyun")
    page.goto(f"/films/{vod.pk}/")
    expect(buy_button(page, vod)).to_be_enabled()

    # the breaker opens (as after a run of gateway failures), for longer than this test
    guard = PaymentGuard(replace(GuardConfig.from_settings(), open_seconds=30))
    reset_guard(guard)
    guard.breaker._transition(guard.breaker.status().epoch, "open", "browser test")
    buy_button(page, vod).click()

    busy = re.compile(r"^Payment is busy, please try again in (\d+) seconds?\.$")
    expect(error(page)).to_have_text(busy)
    seconds = int(busy.match(error(page).inner_text()).group(1))
    assert 1 <= seconds <= 30
    # still on the film page, nothing bought, the Buy button still there
    expect(page.get_by_role("heading", level=1)).to_have_text(vod.title)
    expect(buy_button(page, vod)).to_be_enabled()
    expect(watch_link(page)).to_have_count(0)
    expect_balance(page, "0 points")
    screenshot(page, "busy")
    assert Purchase.objects.count() == 0
    assert gateway.attempts == 0

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My purchases").click()
    expect(page.locator(".empty")).to_contain_text("You have not bought anything yet.")


def test_double_click_on_buy_buys_once(page: Page, films, gateway, monkeypatch):
    """The second click comes while the first is still paying (the gateway holds its
    answer until then): the browser sends both, the store charges once."""
    vod = films["The Lucky Stranger"]
    make_user("seoyeon")
    log_in(page, "seoyeon")
    page.goto(f"/films/{vod.pk}/")
    release = threading.Event()
    authorize = gateway.authorize

    def held_authorize(**kwargs):
        release.wait(timeout=1.5)  # under the guard's call timeout, whatever happens
        return authorize(**kwargs)

    monkeypatch.setattr(gateway, "authorize", held_authorize)
    buy_url = f"{page.url}buy/"

    def is_buy(request) -> bool:
        return request.method == "POST" and request.url == buy_url

    # the mouse, not the locator: a locator waits for the first click's navigation
    box = buy_button(page, vod).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    with page.expect_request(is_buy):
        page.mouse.click(x, y)
    with page.expect_request(is_buy):
        page.mouse.click(x, y)
    release.set()

    expect(success(page).first).to_have_text(
        f"You bought “{vod.title}” for ₩7,700. Enjoy the film!"
    )
    expect(watch_link(page)).to_be_visible()
    expect_balance(page, "1,000 points")
    assert Purchase.objects.filter(vod_id=vod.pk).count() == 1
    assert len(gateway.charges) == 1


def test_the_same_buy_form_sent_twice_buys_once(page: Page, films, gateway):
    """The browser resubmits one rendered form (same idempotency key) twice at once."""
    vod = films["Crimson Garden"]
    make_user("yuna")
    log_in(page, "yuna")
    page.goto(f"/films/{vod.pk}/")
    statuses = page.evaluate(
        """() => {
            const form = document.querySelector("form.buy-form");
            const send = () => fetch(form.action, {method: "POST", body: new FormData(form)});
            return Promise.all([send(), send()]).then(rs => rs.map(r => r.status));
        }"""
    )
    assert statuses == [200, 200]  # both followed the redirect back to the film page

    page.reload()
    expect(watch_link(page)).to_be_visible()
    expect_balance(page, "1,000 points")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My purchases").click()
    expect(page.get_by_role("row").filter(has_text=vod.title)).to_have_count(1)
    assert Purchase.objects.filter(vod_id=vod.pk).count() == 1
    assert len(gateway.charges) == 1


def test_korean_from_the_footer(page: Page, films, screenshot):
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Films")
    page.locator(".language-form select").select_option("ko")
    page.locator(".language-form button").click()

    with translation.override("ko"):
        films_heading = translation.gettext("Films")
        search_label = translation.gettext("Search by title")
        action = translation.gettext("Action")
    assert films_heading != "Films", "the Korean translation is missing: no “Films”"
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.locator(".language-form select")).to_have_value("ko")
    expect(page.get_by_role("heading", level=1)).to_have_text(films_heading)
    expect(page.get_by_label(search_label)).to_be_visible()
    card = page.locator(".film-card").filter(has_text="ToBusan")
    expect(card.locator(".film-card__meta")).to_have_text(f"2016 · {action}")
    expect(card.locator(".price")).to_have_text("₩4,500")  # prices are won in Korean too
    screenshot(page, "catalog-ko")
