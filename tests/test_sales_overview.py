"""The admin's sales overview: the figures of each store day over the last 30 days, who
may see them, and its chart (inline SVG)."""

import re
import uuid
import xml.etree.ElementTree as ET
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mileage.models import MileageAccount, MileageEntry
from payment.models import Payment
from purchase import sales, services
from purchase.models import ClosedSalesDay, Purchase
from purchase.sales import SalesFigures, sales_overview
from scripts import books
from tests.conftest import make_user, make_vod
from vodstore.charts import nice_top

pytestmark = pytest.mark.django_db

URL = "/admin/purchase/purchase/sales/"
SVG = "{http://www.w3.org/2000/svg}"


def store_time(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(settings.TIME_ZONE))


def buy(committed, user, vod, *, at: datetime, method: str = "card") -> Purchase:
    """A purchase through the service, then moved (with its payment and points) to `at`."""
    with committed():
        purchase = services.purchase_create(
            user_id=user.id, vod_id=vod.id, payment_method=method
        ).purchase
    Purchase.objects.filter(pk=purchase.pk).update(created_at=at)
    Payment.objects.filter(purchase_id=purchase.pk).update(approved_at=at)
    MileageEntry.objects.filter(purchase_id=purchase.pk).update(created_at=at)
    purchase.refresh_from_db()
    return purchase


def cancel(committed, purchase: Purchase, *, at: datetime) -> None:
    """A staff cancellation through the service (refund, points reversed), moved to `at`."""
    with committed():
        services.purchase_cancel(user_id=purchase.user_id, purchase_id=purchase.id, as_staff=True)
    Purchase.objects.filter(pk=purchase.pk).update(cancelled_at=at)
    Payment.objects.filter(purchase_id=purchase.pk).update(cancelled_at=at)
    MileageEntry.objects.filter(
        purchase_id=purchase.pk, reason__in=["clawed_back", "refunded"]
    ).update(created_at=at)


def grant_points(user, points: int, *, at: datetime) -> None:
    """Points earned long ago (outside the overview), as an earlier purchase would have."""
    MileageAccount.objects.create(user=user, balance=points)
    entry = MileageEntry.objects.create(
        account_id=user.id,
        delta=points,
        reason="earned",
        purchase_id=10**9 + user.id,  # no purchase of this store: bought before the books
        event_id=uuid.uuid4(),
    )
    MileageEntry.objects.filter(pk=entry.pk).update(created_at=at)


@pytest.fixture
def today() -> date:
    return timezone.localdate()


@pytest.fixture
def month_of_sales(committed, today):
    """Two card purchases two days ago; a points purchase and a cancelled card purchase
    yesterday; the points purchase cancelled today, and a purchase just after midnight
    (store time: still yesterday in UTC); one purchase on the first day of the span and
    one the day before it."""
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    harbor, moon, river = (
        make_vod(title="The Harbor", price=4500),
        make_vod(title="Paper Moon", price=3000),
        make_vod(title="Rivers of Seoul", price=2000),
    )
    grant_points(carol, 5000, at=store_time(today - timedelta(days=90), 12))

    alices = buy(committed, alice, harbor, at=store_time(today - timedelta(days=2), 10))
    buy(committed, bob, moon, at=store_time(today - timedelta(days=2), 21, 15))
    carols = buy(
        committed, carol, harbor, at=store_time(today - timedelta(days=1), 9), method="mileage"
    )
    cancel(committed, alices, at=store_time(today - timedelta(days=1), 18))
    cancel(committed, carols, at=store_time(today, 8))
    buy(committed, bob, river, at=store_time(today, 0, 30))
    buy(committed, carol, moon, at=store_time(today - timedelta(days=29), 0, 0))
    buy(committed, alice, moon, at=store_time(today - timedelta(days=30), 23, 59))
    # the books balance, but for carol's points from before them
    assert books.problems() == [
        f"entries of unknown purchase {10**9 + carol.id}: {{'earned': [5000]}}"
    ]


def by_day(overview) -> dict[date, SalesFigures]:
    return {row.day: row for row in overview.days}


def test_the_figures_of_each_day(month_of_sales, today):
    overview = sales_overview()
    days = by_day(overview)

    assert [row.day for row in overview.days] == [
        today - timedelta(days=back) for back in range(29, -1, -1)
    ]
    two_days_ago = days[today - timedelta(days=2)]
    assert (two_days_ago.purchases, two_days_ago.with_points) == (2, 0)
    assert two_days_ago.revenue == 7500
    assert two_days_ago.points_issued == 2000
    assert (two_days_ago.refunds, two_days_ago.refunded) == (0, 0)

    yesterday = days[today - timedelta(days=1)]
    assert (yesterday.purchases, yesterday.with_points) == (1, 1)
    assert yesterday.revenue == 0  # points are not won
    assert yesterday.points_spent == 5000
    # alice's card purchase of two days ago, cancelled yesterday
    assert (yesterday.refunds, yesterday.refunded) == (1, 4500)
    assert yesterday.points_taken_back == 1000

    # carol's points purchase cancelled: a refund of points, no won; bob's at 00:30
    assert days[today].refunds == 1
    assert days[today].refunded == 0
    assert days[today].points_returned == 5000
    assert (days[today].purchases, days[today].revenue, days[today].points_issued) == (
        1,
        2000,
        1000,
    )

    first = days[today - timedelta(days=29)]
    assert (first.purchases, first.revenue) == (1, 3000)

    assert overview.totals == SalesFigures(
        purchases=5,
        with_points=1,
        revenue=12500,
        refunds=2,
        refunded=4500,
        points_issued=4000,
        points_taken_back=1000,
        points_spent=5000,
        points_returned=5000,
    )


def test_days_without_sales_are_zeros(month_of_sales, today):
    days = by_day(sales_overview())
    quiet = days[today - timedelta(days=10)]
    assert quiet == type(quiet)(day=quiet.day)  # every figure 0
    assert sum(1 for row in days.values() if row.purchases == 0 and row.refunds == 0) == 26


def test_days_are_the_stores_calendar_days(committed, settings):
    """A purchase at 00:30 in Seoul is made on that day, though it is still the day
    before in UTC; one at 23:59 counts on its own day."""
    settings.TIME_ZONE = "Asia/Seoul"
    today = timezone.localdate()
    buyer, film = make_user(), make_vod(price=1000)
    buy(committed, buyer, film, at=store_time(today - timedelta(days=3), 0, 30))
    buy(committed, buyer, make_vod(price=2000), at=store_time(today - timedelta(days=4), 23, 59))
    assert store_time(today, 0, 30).astimezone(ZoneInfo("UTC")).date() == today - timedelta(days=1)

    days = by_day(sales_overview())
    assert days[today - timedelta(days=3)].revenue == 1000
    assert days[today - timedelta(days=4)].revenue == 2000
    assert days[today - timedelta(days=5)].revenue == 0


def overview_queries(**arguments) -> int:
    with CaptureQueriesContext(connection) as ctx:
        sales_overview(**arguments)
    return len(ctx.captured_queries)


def test_days_that_are_over_are_counted_once_then_kept(committed, today):
    """The first overview counts the 30 days (one read of the kept days, four GROUP BYs,
    one insert of the 29 that are over); the next counts only today, however many
    sales the store has."""
    buyers = [make_user() for _ in range(6)]
    for n, buyer in enumerate(buyers):
        buy(committed, buyer, make_vod(), at=store_time(today - timedelta(days=n), 12))

    assert overview_queries() == 6
    assert ClosedSalesDay.objects.count() == 29
    assert not ClosedSalesDay.objects.filter(day=today).exists()
    assert overview_queries() == 5  # the kept days, then today's four totals
    for n, buyer in enumerate(buyers):
        buy(committed, buyer, make_vod(), at=store_time(today - timedelta(days=n), 13))
    assert overview_queries() == 5


def test_kept_days_give_the_figures_counted(month_of_sales, today):
    counted = sales_overview()
    kept = sales_overview()
    assert ClosedSalesDay.objects.count() == 29
    assert kept == counted


def test_todays_figures_are_counted_at_every_visit(committed, today):
    buyer = make_user()
    buy(committed, buyer, make_vod(price=1000), at=store_time(today, 0, 5))
    assert by_day(sales_overview())[today].revenue == 1000
    buy(committed, buyer, make_vod(price=2000), at=store_time(today, 0, 6))
    assert by_day(sales_overview())[today].revenue == 3000


def test_a_kept_day_is_not_counted_again(committed, today):
    """What makes keeping right is that nothing is stamped on a day that is over: a row
    moved into a kept day (which the store never does) is not seen."""
    yesterday = today - timedelta(days=1)
    buyer = make_user()
    buy(committed, buyer, make_vod(price=1000), at=store_time(yesterday, 9))
    assert by_day(sales_overview())[yesterday].revenue == 1000
    buy(committed, buyer, make_vod(price=2000), at=store_time(yesterday, 10))
    assert by_day(sales_overview())[yesterday].revenue == 1000


def test_a_day_is_kept_only_once_it_has_settled(committed, settings, monkeypatch):
    """Until a quarter of an hour past midnight, yesterday is counted like today: a
    purchase stamped 23:59:59 and committed after midnight is still seen."""
    settings.TIME_ZONE = "Asia/Seoul"
    today = date(2026, 11, 20)
    yesterday = today - timedelta(days=1)
    buyer = make_user()
    monkeypatch.setattr(sales, "_now", lambda: store_time(today, 0, 14))
    buy(committed, buyer, make_vod(price=1000), at=store_time(yesterday, 23, 59))
    assert by_day(sales_overview(last_day=today))[yesterday].revenue == 1000
    assert not ClosedSalesDay.objects.filter(day=yesterday).exists()
    buy(committed, buyer, make_vod(price=2000), at=store_time(yesterday, 23, 59))

    monkeypatch.setattr(sales, "_now", lambda: store_time(today, 0, 15))
    assert by_day(sales_overview(last_day=today))[yesterday].revenue == 3000
    kept = ClosedSalesDay.objects.get(day=yesterday)
    assert (kept.time_zone, kept.revenue, kept.purchases) == ("Asia/Seoul", 3000, 2)


def test_each_time_zone_keeps_its_own_days(committed, settings):
    settings.TIME_ZONE = "Asia/Seoul"
    seoul_today = timezone.localdate()
    at = store_time(seoul_today - timedelta(days=2), 0, 30)  # 15:30 UTC the day before
    buy(committed, make_user(), make_vod(price=1000), at=at)
    assert by_day(sales_overview())[seoul_today - timedelta(days=2)].revenue == 1000

    settings.TIME_ZONE = "UTC"
    days = by_day(sales_overview(last_day=seoul_today))
    assert days[seoul_today - timedelta(days=3)].revenue == 1000
    assert days[seoul_today - timedelta(days=2)].revenue == 0
    assert set(ClosedSalesDay.objects.values_list("time_zone", flat=True)) == {"Asia/Seoul", "UTC"}


# --- the page -------------------------------------------------------------------------


def test_staff_who_may_see_purchases_see_the_overview(client, month_of_sales):
    viewer = make_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_purchase"))
    client.force_login(viewer)

    response = client.get(URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Sales overview" in page
    assert 'id="total-revenue">₩12,500<' in page
    assert 'id="total-points-issued">4,000<' in page
    assert "₩4,500 back by card" in page
    assert page.count("<tr data-day=") == 30


def test_anonymous_visitors_are_sent_to_the_admin_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_customers_have_no_access(client):
    client.force_login(make_user("customer"))
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_without_the_permission_are_refused(client):
    curator = make_user("curator", is_staff=True)
    curator.user_permissions.add(Permission.objects.get(codename="add_vod"))
    client.force_login(curator)

    assert client.get(URL).status_code == 403
    assert "Sales overview" not in client.get("/admin/").content.decode()


def test_the_admin_index_links_to_the_overview(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert f'href="{URL}"' in page
    assert f'href="{URL}"' in admin_client.get("/admin/purchase/purchase/").content.decode()


def chart_of(page: str) -> ET.Element:
    found = re.search(r"<svg\b[^>]*\bclass=\"chart\".*?</svg>", page, re.DOTALL)
    assert found, "no inline SVG on the page"
    return ET.fromstring(found.group(0))  # noqa: S314 - our own markup, parsed to check it


def test_the_chart_is_well_formed_accessible_svg(admin_client, month_of_sales, today):
    svg = chart_of(admin_client.get(URL).content.decode())

    assert svg.tag == f"{SVG}svg"
    assert svg.get("role") == "img"
    title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
    assert "Revenue and purchases per day" in title.text
    assert "₩12,500" in desc.text
    assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    days = svg.findall(f"{SVG}g[@class='chart-bars']/{SVG}g")
    assert len(days) == 30
    # each day's figures as its tooltip, the newest last
    assert days[-1].find(f"{SVG}title").text.endswith("Revenue by card ₩2,000, Purchases 1")
    assert days[-3].find(f"{SVG}title").text.endswith("Revenue by card ₩7,500, Purchases 2")
    points = svg.find(f"{SVG}g[@class='chart-line']/{SVG}polyline").get("points").split()
    assert len(points) == 30
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "Revenue by card" in labels
    assert "₩0" in labels
    assert "Purchases" in labels
    assert today.strftime("%b ") + str(today.day) in labels  # the last day is labelled


def test_the_chart_of_a_store_without_sales(admin_client):
    response = admin_client.get(URL)
    svg = chart_of(response.content.decode())
    assert len(svg.findall(f"{SVG}g[@class='chart-bars']/{SVG}g")) == 30
    assert 'id="total-revenue">₩0<' in response.content.decode()
    assert "NaN" not in response.content.decode()


def test_the_page_takes_the_same_queries_however_many_sales(admin_client, committed, today):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(URL).status_code == 200
        return len(ctx.captured_queries)

    first = count()  # counts the 30 days, keeps the 29 that are over
    before = count()
    assert before == first - 1
    for n in range(5):
        buy(committed, make_user(), make_vod(), at=store_time(today - timedelta(days=n), 12))
    assert count() == before


@pytest.mark.parametrize(
    ("peak", "top"),
    [(0, 4), (1, 4), (3, 4), (5, 8), (7500, 8000), (12000, 12000), (45000, 60000), (12001, 16000)],
)
def test_the_axis_tops_are_round(peak, top):
    assert nice_top(peak) == top


def test_the_days_follow_the_time_zone_setting(committed, settings):
    settings.TIME_ZONE = "Asia/Seoul"
    seoul_today = timezone.localdate()
    at = store_time(seoul_today - timedelta(days=2), 0, 30)  # 15:30 UTC the day before
    buy(committed, make_user(), make_vod(price=1000), at=at)

    settings.TIME_ZONE = "UTC"
    days = by_day(sales_overview(last_day=seoul_today))
    assert days[seoul_today - timedelta(days=3)].revenue == 1000
    assert days[seoul_today - timedelta(days=2)].revenue == 0
