"""The staff's sales overview: per store day, purchases, card revenue, refunds and
points, composed from each app's own daily totals (purchase sits above payment and
mileage, so it may read theirs), and its chart."""

from dataclasses import dataclass, fields
from datetime import date

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from mileage.selectors import MileageDayTotals, mileage_daily_totals
from payment.selectors import PaymentDayTotals, payment_daily_totals
from purchase.selectors import PurchaseDayTotals, purchase_daily_totals
from vodstore import charts
from vodstore.admin_tools import won_amount
from vodstore.reports import store_days

OVERVIEW_DAYS = 30


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
    """The `days` store days ending with `last_day` (today in the store's time zone):
    four GROUP BY queries, whatever the number of purchases."""
    span = store_days(last_day=last_day or timezone.localdate(), count=days)
    first, last = span[0], span[-1]
    purchases = purchase_daily_totals(first_day=first, last_day=last)
    payments = payment_daily_totals(first_day=first, last_day=last)
    points = mileage_daily_totals(first_day=first, last_day=last)
    rows = [
        _day(
            day,
            purchases.get(day, PurchaseDayTotals()),
            payments.get(day, PaymentDayTotals()),
            points.get(day, MileageDayTotals()),
        )
        for day in span
    ]
    return SalesOverview(days=rows, totals=sum(rows, SalesFigures()))


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
