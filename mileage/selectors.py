"""Reads of mileage: a user's balance (also cached, for the header of every page) and
ledger, and the points of each day for the staff."""

import logging
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Q, QuerySet, Sum

from mileage.models import MileageAccount, MileageEntry
from vodstore.cache import forget, kept, read_together
from vodstore.reports import totals_per_day

logger = logging.getLogger(__name__)


def mileage_balance(*, user_id: int) -> int:
    """The user's balance (0 before the first entry)."""
    balance = MileageAccount.objects.filter(user_id=user_id).values_list("balance", flat=True)
    return balance.first() or 0


@read_together  # the header shows it on every signed-in page
def _balance_key(user_id: int) -> str:
    return f"mileage:balance:{user_id}"


def mileage_balance_cached(*, user_id: int) -> int | None:
    """The user's balance as a page shows it beside other things (the header, the buy
    box), never what a spend decides on: from the cache, else from the database (then
    kept for `MILEAGE_BALANCE_CACHE_SECONDS`). Every change forgets it once it commits
    (`mileage_balance_forget`). None when it cannot be read now: a failing mileage
    table must not take the page down with it. The cache is an accelerator: if it
    fails, the balance is read from the database."""
    try:
        return kept(
            _balance_key(user_id),
            lambda: mileage_balance(user_id=user_id),
            seconds=settings.MILEAGE_BALANCE_CACHE_SECONDS,
            what=f"the balance of user {user_id}",
            user_id=user_id,
        )
    except DatabaseError:
        logger.warning("mileage balance unreadable for user %s", user_id, exc_info=True)
        return None


def mileage_balance_forget(*, user_id: int) -> None:
    """Drop the user's cached balance (mileage.services calls it after each change
    commits). If the cache fails, the old figure lasts until its timeout: logged."""
    forget(_balance_key(user_id), what=f"the balance of user {user_id}")


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
