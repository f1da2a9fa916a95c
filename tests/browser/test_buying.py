"""Buying as a newcomer and reading the books, in a real browser (Chromium): an
anonymous Buy goes through log-in (or sign-up) and back to the film with Buy offered
again, the purchase page is a receipt, and the mileage page names the films and
explains a balance below zero. Saves docs/screenshots/receipt.png and
mileage-below-zero.png (with UPDATE_SCREENSHOTS=1)."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from django.utils.formats import date_format
from playwright.sync_api import Page, expect

from catalog.models import Vod
from payment.models import Payment
from purchase.models import Purchase
from purchase.services import purchase_cancel, purchase_create
from tests.browser.test_journeys import (
    create_films,
    expect_balance,
    fill_login,
    fill_signup,
    log_in,
    success,
)
from tests.conftest import make_user

FILMS = [
    ("Alive!", "horror", 2020, 98, 3500, "A young gamer wakes up to an infected apartment block."),
    ("ToBusan", "action", 2016, 118, 4500, "A father and daughter board the last train south."),
    ("Oldboy", "thriller", 2003, 120, 5500, "A man held fifteen years is let go without a word."),
    ("Mother", "drama", 2009, 129, 4000, "A mother sets out to clear her son's name."),
    ("Poetry", "drama", 2010, 139, 3000, "A grandmother takes a poetry class."),
    ("The Host", "horror", 2006, 120, 4500, "A creature rises from the Han River."),
    ("Burning", "thriller", 2018, 148, 6000, "A delivery boy meets a girl from his village."),
]


@pytest.fixture
def films(transactional_db) -> dict[str, Vod]:
    return create_films(FILMS)


@pytest.mark.parametrize("way_in", ["log in", "sign up"])
def test_anonymous_buy_logs_in_comes_back_buys_and_gets_a_receipt(
    page: Page, films, gateway, screenshot, way_in
):
    alive = films["Alive!"]
    make_user("jisoo")

    # a visitor presses Buy: the log-in page says why, and where they will come back to
    page.goto(f"/films/{alive.pk}/")
    page.locator(".buy-panel").get_by_role("link", name="Buy for ₩3,500").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/\?"))
    assert parse_qs(urlsplit(page.url).query) == {"next": [f"/films/{alive.pk}/?buy=1"]}
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    expect(page.locator(".buy-intent")).to_contain_text("Log in or sign up to buy “Alive!”.")
    if way_in == "log in":
        fill_login(page, "jisoo")
    else:
        page.get_by_role("link", name="Create an account").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")
        expect(page.locator(".buy-intent")).to_contain_text("Log in or sign up to buy “Alive!”.")
        fill_signup(page, "haneul")
        expect(success(page)).to_have_text("Welcome, haneul! Your account is ready.")

    # back on the film, Buy offered again (highlighted, focused) and said so
    expect(page).to_have_url(re.compile(rf"/films/{alive.pk}/\?buy=1$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Alive!")
    panel = page.locator(".buy-panel")
    expect(panel).to_have_class(re.compile(r"\bbuy-panel--offered\b"))
    expect(panel.locator(".buy-panel__welcome")).to_have_text(
        "You are logged in: you can buy “Alive!” now."
    )
    buy = panel.get_by_role("button", name="Buy for ₩3,500")
    expect(buy).to_be_focused()
    expect(panel.get_by_role("button", name="Use 5,000 points")).to_be_disabled()
    if way_in == "log in":
        screenshot(page, "film-buy-offered")
    buy.click()
    expect(success(page)).to_have_text("You bought “Alive!” for ₩3,500. Enjoy the film!")
    expect(page.locator(".buy-panel")).not_to_have_class(re.compile(r"buy-panel--offered"))
    expect_balance(page, "1,000 points")

    # the purchase page is a receipt: what, when, how paid, the amount, status, terms
    page.locator(".buy-panel").get_by_role("link", name="Purchase details").click()
    purchase = Purchase.objects.get(vod_id=alive.pk)
    payment = Payment.objects.get(purchase_id=purchase.pk)
    receipt = page.locator(".receipt")
    expect(receipt.get_by_role("heading", level=1)).to_have_text("Alive!")
    local = date_format(timezone.localtime(purchase.created_at), "DATETIME_FORMAT")
    facts = {
        "Film": "Alive!",
        "Purchased": f"{local} (KST)",
        "Receipt number": f"#{purchase.pk}",
        "Paid with": "Card",
        "Payment reference": payment.gateway_reference,
        "Amount": "₩3,500",
        "Points earned": "1,000 points",
        "Payment": "Approved",
    }
    for term, value in facts.items():
        row = receipt.locator(".details > div").filter(
            has=page.locator("dt", has_text=re.compile(rf"^{re.escape(term)}$"))
        )
        expect(row.locator("dd")).to_have_text(value)
    expect(receipt.locator(".receipt__status")).to_have_text("Paid")
    expect(receipt.locator(".receipt__terms")).to_contain_text("You can cancel for a refund until")
    expect(receipt.get_by_role("button", name="Print receipt")).to_be_visible()
    if way_in == "log in":
        screenshot(page, "receipt")

    # printed, the receipt stands alone: no header, no buttons
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(receipt.get_by_role("button", name="Print receipt")).to_be_hidden()
    expect(receipt.locator(".details")).to_be_visible()
    page.emulate_media(media="screen")


def test_mileage_page_names_the_films_and_explains_a_balance_below_zero(
    page: Page, films, gateway, screenshot
):
    user = make_user("minseo")
    bought = {}
    for title in ("Alive!", "ToBusan", "Oldboy", "Mother", "Poetry"):
        bought[title] = purchase_create(user_id=user.id, vod_id=films[title].pk).purchase
    purchase_create(user_id=user.id, vod_id=films["The Host"].pk, payment_method="mileage")
    purchase_cancel(user_id=user.id, purchase_id=bought["Alive!"].pk)  # after the points went

    log_in(page, "minseo")
    expect_balance(page, "-1,000 points")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My mileage").click()
    expect(page.get_by_test_id("mileage-balance")).to_have_text("-1,000 points")

    rows = page.locator(".ledger tbody tr")
    expect(rows.locator(".ledger__what")).to_have_text(
        [
            "Taken back: Alive! was cancelled",
            "Spent on The Host",
            "Earned for buying Poetry",
            "Earned for buying Mother",
            "Earned for buying Oldboy",
            "Earned for buying ToBusan",
            "Earned for buying Alive!",
        ]
    )
    expect(rows.locator(".delta")).to_have_text(
        ["-1,000 points", "-5,000 points", *["+1,000 points"] * 5]
    )
    expect(page.get_by_text(re.compile(r"Purchase #|Clawed back"))).to_have_count(0)
    why = page.get_by_test_id("negative-balance")
    expect(why).to_contain_text("Why is the balance below zero?")
    expect(why).to_contain_text("its points are taken back, even if they were already spent")
    expect(why).to_contain_text("You owe nothing and no money is charged.")
    expect(why).to_contain_text("a free film needs 5,000 points, that is 6,000 points more")
    expect(page.locator(".balance-card")).to_contain_text("look for “Use 5,000 points”")
    screenshot(page, "mileage-below-zero")

    # a row's film leads to its receipt
    rows.first.get_by_role("link", name="Alive!").click()
    expect(page.locator(".receipt .receipt__status")).to_have_text("Cancelled")
    expect(page.locator(".receipt__terms")).to_contain_text(
        "This purchase was cancelled: ₩3,500 was refunded to your card."
    )

    # the film page says it too, where the points button is
    page.goto(f"/films/{films['Burning'].pk}/")
    expect(page.locator("#points-why")).to_contain_text(
        "You have -1,000 points; a free film needs 5,000 points. It is below zero because"
    )
    page.locator("#points-why").get_by_role("link", name="More about your points").click()
    expect(page).to_have_url(re.compile(r"/mileage/#negative-balance$"))
