"""The staff's sales overview: per store day, purchases, card revenue, refunds and
points, composed from each app's own daily totals (purchase sits above payment and
mileage, so it may read theirs), and its chart.

A day's figures never change once it is over (each counts on the day of its own
timestamp), so the days that are over are kept (`ClosedSalesDay`) the first time the
overview counts them, and afterwards only what is not kept is counted: today, with a
year of history or ten, is one day of rows."""

from dataclasses import dataclass, fields
from datetime import date, timedelta

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from mileage.selectors import MileageDayTotals, mileage_daily_totals
from payment.selectors import PaymentDayTotals, payment_daily_totals
from purchase.models import ClosedSalesDay
from purchase.selectors import PurchaseDayTotals, purchase_daily_totals
from vodstore import charts
from vodstore.admin_tools import won_amount
from vodstore.reports import store_days, store_midnight

OVERVIEW_DAYS = 30

# A day is closed this long after it ends in the store's time zone: a purchase, payment
# or ledger entry stamped before midnight but committed after it (a request's
# transaction, a worker's handler) is counted before the day is kept. Nothing the store
# writes stays uncommitted this long (requests time out after 30 s, handlers sooner).
SETTLED_AFTER = timedelta(minutes=15)


@dataclass(frozen=True, kw_only=True)
class SalesFigures:
    """What happened in a span of time. Purchases count on the day they were made,
    refunds and points taken back or returned on the day of the cancellation."""

    purchases: int = 0
    with_points: int = 0  # of `purchases`
    revenue: int = 0  # won paid by card
    refunds: int = 0  # payments cancelled, by card or points
    refunded: int = 0  # won given back by card
    points_issued: int = 0
    points_taken_back: int = 0
    points_spent: int = 0
    points_returned: int = 0

    def __add__(self, other: "SalesFigures") -> "SalesFigures":
        return SalesFigures(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


@dataclass(frozen=True, kw_only=True)
class SalesDay(SalesFigures):
    day: date


@dataclass(frozen=True)
class SalesOverview:
    days: list[SalesDay]  # oldest first, every day of the span (zeros included)
    totals: SalesFigures

    @property
    def first_day(self) -> date:
        return self.days[0].day

    @property
    def last_day(self) -> date:
        return self.days[-1].day


def sales_overview(*, last_day: date | None = None, days: int = OVERVIEW_DAYS) -> SalesOverview:
    """The `days` store days ending with `last_day` (today in the store's time zone).

    One query reads the kept days of the span; the days from the first one not kept to
    the last are counted in four GROUP BY queries (on a typical visit: today alone); the
    days counted that are over are kept, in one more query."""
    span = store_days(last_day=last_day or timezone.localdate(), count=days)
    zone = timezone.get_default_timezone_name()
    kept = {
        row.day: _kept(row)
        for row in ClosedSalesDay.objects.filter(time_zone=zone, day__range=(span[0], span[-1]))
    }
    counted: dict[date, SalesDay] = {}
    if unkept := [day for day in span if day not in kept]:
        counted = _counted(first_day=unkept[0], last_day=span[-1])
        closing = [day for day in unkept if _is_over(day)]
        ClosedSalesDay.objects.bulk_create(
            [_closed(counted[day], zone) for day in closing], ignore_conflicts=True
        )
    rows = [kept[day] if day in kept else counted[day] for day in span]
    return SalesOverview(days=rows, totals=sum(rows, SalesFigures()))


def _now():
    return timezone.now()


def _is_over(day: date) -> bool:
    return _now() >= store_midnight(day + timedelta(days=1)) + SETTLED_AFTER


def _counted(*, first_day: date, last_day: date) -> dict[date, SalesDay]:
    """Every day from `first_day` to `last_day`, counted from each app's rows."""
    span = {"first_day": first_day, "last_day": last_day}
    purchases = purchase_daily_totals(**span)
    payments = payment_daily_totals(**span)
    points = mileage_daily_totals(**span)
    return {
        day: _day(
            day,
            purchases.get(day, PurchaseDayTotals()),
            payments.get(day, PaymentDayTotals()),
            points.get(day, MileageDayTotals()),
        )
        for day in store_days(last_day=last_day, count=(last_day - first_day).days + 1)
    }


_FIGURES = [field.name for field in fields(SalesFigures)]


def _kept(row: ClosedSalesDay) -> SalesDay:
    return SalesDay(day=row.day, **{name: getattr(row, name) for name in _FIGURES})


def _closed(day: SalesDay, zone: str) -> ClosedSalesDay:
    return ClosedSalesDay(
        day=day.day, time_zone=zone, **{name: getattr(day, name) for name in _FIGURES}
    )


def _day(
    day: date, bought: PurchaseDayTotals, paid: PaymentDayTotals, points: MileageDayTotals
) -> SalesDay:
    return SalesDay(
        day=day,
        purchases=bought.purchases,
        with_points=bought.with_points,
        revenue=paid.revenue,
        refunds=paid.refunds,
        refunded=paid.refunded,
        points_issued=points.issued,
        points_taken_back=points.taken_back,
        points_spent=points.spent,
        points_returned=points.returned,
    )


def sales_chart(overview: SalesOverview) -> SafeString:
    """Revenue per day as bars, purchases per day as a line, as inline SVG."""
    first = date_format(overview.first_day, "DATE_FORMAT")
    last = date_format(overview.last_day, "DATE_FORMAT")
    totals = overview.totals
    return charts.bars_and_line(
        labels=[date_format(row.day, "M j") for row in overview.days],
        bars=charts.Series(
            _("Revenue by card"), [row.revenue for row in overview.days], won_amount
        ),
        line=charts.Series(_("Purchases"), [row.purchases for row in overview.days]),
        title=_("Revenue and purchases per day, %(first)s to %(last)s")
        % {"first": first, "last": last},
        description=_(
            "Bars: won paid by card each day (%(revenue)s in all). Line: purchases made "
            "each day (%(purchases)s in all). The table below gives every figure."
        )
        % {"revenue": won_amount(totals.revenue), "purchases": totals.purchases},
        dom_id="sales-chart",
    )
