"""Reads of mileage: a user's balance and ledger, and the points of each day for the
staff."""

from dataclasses import dataclass
from datetime import date

from django.db.models import Q, QuerySet, Sum

from mileage.models import MileageAccount, MileageEntry
from vodstore.reports import totals_per_day


def mileage_balance(*, user_id: int) -> int:
    """The user's balance (0 before the first entry)."""
    balance = MileageAccount.objects.filter(user_id=user_id).values_list("balance", flat=True)
    return balance.first() or 0


def mileage_entries(*, user_id: int) -> QuerySet[MileageEntry]:
    """The user's ledger, newest first."""
    return MileageEntry.objects.filter(account_id=user_id).order_by("-created_at", "-id")


@dataclass(frozen=True)
class MileageDayTotals:
    """The points of one store day, each a positive number: issued for purchases,
    taken back from cancelled purchases that had earned them, spent on films, and
    given back for cancelled purchases paid with them."""

    issued: int = 0
    taken_back: int = 0
    spent: int = 0
    returned: int = 0


def mileage_daily_totals(*, first_day: date, last_day: date) -> dict[date, MileageDayTotals]:
    """Per store day from `first_day` to `last_day`, from the ledger in one query; days
    without an entry are absent."""
    reason = MileageEntry.Reason

    def total(of: str) -> Sum:
        return Sum("delta", filter=Q(reason=of))

    days = totals_per_day(
        MileageEntry.objects.all(),
        field="created_at",
        first_day=first_day,
        last_day=last_day,
        issued=total(reason.EARNED),
        taken_back=total(reason.CLAWED_BACK),
        spent=total(reason.SPENT),
        returned=total(reason.REFUNDED),
    )
    return {day: MileageDayTotals(**{k: abs(v) for k, v in t.items()}) for day, t in days.items()}
