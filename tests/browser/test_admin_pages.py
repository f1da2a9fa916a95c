"""The staff's admin in a real browser (Chromium): the sales overview with its chart, and
the purchases list in won and usernames. Saved as docs/screenshots/admin_sales.png and
admin_purchases.png."""

import contextlib
import random
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import Page, expect

from catalog.models import Vod
from tests.conftest import make_user
from tests.test_sales_overview import buy, cancel, grant_points, store_time

PASSWORD = "s3cret-pass-123"  # make_user's

FILMS = [
    ("Alive!", 3500),
    ("ToBusan", 4500),
    ("The Silent Harbor", 5500),
    ("Paper Moon over Jeju", 9900),
    ("Iron Valley", 12000),
    ("Rivers of Seoul", 2500),
]


def no_capture():
    # live-server tests commit for real: on-commit work runs by itself
    return contextlib.nullcontext()


@pytest.fixture
def a_month_of_sales(transactional_db):
    """About forty purchases over thirty days by eight buyers, some with points, a few
    cancelled (the same every run)."""
    Vod.objects.all().delete()
    films = [
        Vod.objects.create(
            title=title, genre="drama", release_year=2020, runtime_minutes=100, price=price
        )
        for title, price in FILMS
    ]
    names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
    buyers = [make_user(name) for name in names]
    today = timezone.localdate()
    for buyer in buyers[:2]:
        grant_points(buyer, 5000, at=store_time(today - timedelta(days=60), 12))
    chance = random.Random(14)
    owned: set[tuple[int, int]] = set()
    bought = []
    for back in range(29, -1, -1):
        for _ in range(chance.choice([0, 1, 2, 2, 3, 4])):
            buyer, film = chance.choice(buyers), chance.choice(films)
            if (buyer.id, film.id) in owned:
                continue
            owned.add((buyer.id, film.id))
            at = store_time(today - timedelta(days=back), chance.randrange(9, 23))
            bought.append(buy(no_capture, buyer, film, at=at))
    # two buyers take the one film only ever had for points
    free = Vod.objects.create(
        title="Little Copper Robot",
        genre="animation",
        release_year=2025,
        runtime_minutes=92,
        price=15000,
    )
    for buyer, back in ((buyers[0], 6), (buyers[1], 3)):
        at = store_time(today - timedelta(days=back), 20)
        buy(no_capture, buyer, free, at=at, method="mileage")
    for purchase in bought[3::9]:
        cancel(no_capture, purchase, at=purchase.created_at + timedelta(days=1))


def log_in_as_staff(page: Page, then: str) -> None:
    staff = make_user("manager", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_purchase"))
    page.goto(f"/admin/login/?next={then}")
    page.get_by_label("Username").fill("manager")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_staff_read_the_sales_overview(page: Page, a_month_of_sales, screenshot):
    log_in_as_staff(page, "/admin/")

    expect(page.locator("#site-name")).to_have_text("▶VOD Store administration")
    page.get_by_role("link", name="Sales overview").click()

    expect(page.get_by_role("heading", name="Sales overview")).to_be_visible()
    chart = page.get_by_role("img", name="Revenue and purchases per day")
    expect(chart).to_be_visible()
    assert chart.bounding_box()["width"] > 600  # drawn, not collapsed
    expect(page.locator("#sales-table tbody tr")).to_have_count(30)
    expect(page.locator("#total-refunds")).not_to_have_text("0")
    expect(page.locator("#total-revenue")).to_have_text(re.compile(r"^₩[\d,]+$"))
    screenshot(page, "admin_sales")


def test_staff_read_purchases_in_won_with_usernames(page: Page, a_month_of_sales, screenshot):
    log_in_as_staff(page, "/admin/purchase/purchase/")

    first_row = page.locator("#result_list tbody tr").first
    expect(first_row.locator(".field-paid")).to_have_text(re.compile(r"^(₩|\d)"))
    expect(page.locator("#result_list .field-user").first).not_to_have_text(re.compile(r"^\d+$"))
    expect(page.get_by_role("link", name="Sales overview")).to_be_visible()
    screenshot(page, "admin_purchases")
