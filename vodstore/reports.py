"""Day-by-day totals for the staff's reports: rows grouped by the store's calendar day
(`settings.TIME_ZONE`, not UTC) in the database, on SQLite and PostgreSQL alike."""

from datetime import date, datetime, time, timedelta

from django.db.models import Aggregate, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone


def store_midnight(day: date) -> datetime:
    """The moment `day` begins in the store's time zone."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


def store_days(*, last_day: date, count: int) -> list[date]:
    """The `count` store days ending with `last_day`, oldest first."""
    return [last_day - timedelta(days=back) for back in range(count - 1, -1, -1)]


def totals_per_day(
    rows: QuerySet, *, field: str, first_day: date, last_day: date, **totals: Aggregate
) -> dict[date, dict[str, int]]:
    """`totals` (named aggregates, such as `Count("id")`) of the rows whose datetime
    `field` falls on each store day from `first_day` to `last_day`: one GROUP BY query,
    whatever the number of rows. Days without rows are absent; an empty sum is 0."""
    grouped = (
        rows.filter(
            **{
                f"{field}__gte": store_midnight(first_day),
                f"{field}__lt": store_midnight(last_day + timedelta(days=1)),
            }
        )
        .annotate(day=TruncDate(field, tzinfo=timezone.get_default_timezone()))
        .values("day")
        .annotate(**totals)
        .order_by("day")
    )
    return {row["day"]: {name: row[name] or 0 for name in totals} for row in grouped}
