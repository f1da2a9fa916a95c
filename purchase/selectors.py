"""Reads of purchases: a user's purchases and owned films, and where they are in them;
the purchases of each day for the staff."""

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet

from purchase.models import Purchase, WatchProgress
from vodstore.cache import forget, kept, read_together
from vodstore.compiled import Compiled
from vodstore.reports import totals_per_day
from vodstore.vocabulary import PaymentMethod


def purchase_list(*, user_id: int, status: str | None = None) -> QuerySet[Purchase]:
    """The user's purchases, newest first, optionally of one status."""
    purchases = Purchase.objects.filter(user_id=user_id).order_by("-created_at", "-id")
    if status:
        purchases = purchases.filter(status=status)
    return purchases


# The lists of a user's own pages, each with its progress (the library's cards, the
# refund terms), compiled once per connection (`vodstore.compiled`): read on every
# visit of the purchases page and the library.
PURCHASES_WITH_PROGRESS = Compiled(
    lambda user_id: purchase_list(user_id=user_id).select_related("progress"), user_id=-1
)
OWNED_WITH_PROGRESS = Compiled(
    lambda user_id: purchase_list(user_id=user_id, status=Purchase.Status.PAID).select_related(
        "progress"
    ),
    user_id=-1,
)

# How many films the user owns (a library of several pages counts them): COUNT(*), which
# the partial unique index of paid purchases answers alone (COUNT(id) read every row:
# 8 ms for a buyer of 3,500 films, against 0.7)
OWNED_COUNT = Compiled(
    lambda user_id: (
        Purchase.objects.filter(user_id=user_id, status=Purchase.Status.PAID)
        .order_by()
        .values_list("user_id")
        .annotate(films=Count("*"))
    ),
    user_id=-1,
)


def owned_count(*, user_id: int) -> int:
    """How many films the user owns (paid purchases)."""
    rows = OWNED_COUNT.rows(user_id=user_id)
    return rows[0][1] if rows else 0


def purchase_get(*, user_id: int, purchase_id: int) -> Purchase:
    """One of the user's purchases, or `Purchase.DoesNotExist` (also for others')."""
    return Purchase.objects.get(pk=purchase_id, user_id=user_id)


def purchase_of_vod(*, user_id: int, vod_id: int) -> Purchase | None:
    """The user's paid purchase of a film, or None when the user does not own it."""
    return _PAID_PURCHASE_OF_VOD.first(user_id=user_id, vod_id=vod_id)


# `Purchase.objects.filter(...).first()` of `purchase_of_vod` (compiled: the film page of
# an owned film, the Watch page and its video read it on every request)
_PAID_PURCHASE_OF_VOD = Compiled(
    lambda user_id, vod_id: Purchase.objects.filter(
        user_id=user_id, vod_id=vod_id, status=Purchase.Status.PAID
    ),
    user_id=-1,
    vod_id=-2,
)


def owned_vod_ids(*, user_id: int, among: Collection[int] | None = None) -> set[int]:
    """The films the user owns (paid, not cancelled); only those `among` when given (a
    page of the catalog)."""
    owned = Purchase.objects.filter(user_id=user_id, status=Purchase.Status.PAID)
    if among is not None:
        owned = owned.filter(vod_id__in=among)
    return set(owned.values_list("vod_id", flat=True))


@read_together  # the catalog's owned marks, the film page's buy box
def _owned_key(user_id: int) -> str:
    return f"purchase:owned:{user_id}"


def owned_vod_ids_cached(*, user_id: int) -> frozenset[int]:
    """Every film the user owns, as the pages that mark them read it (the catalog's
    owned marks; whether a film page's buy box needs the purchase at all): from the
    cache, else from the database (then kept for `PURCHASE_OWNED_CACHE_SECONDS`). A
    purchase or a cancel of theirs forgets it once it commits (`owned_forget`). Never
    what a purchase decides on: `purchase_create` asks the database. The cache is an
    accelerator: if it fails, the database answers."""
    return kept(
        _owned_key(user_id),
        lambda: frozenset(owned_vod_ids(user_id=user_id)),
        seconds=settings.PURCHASE_OWNED_CACHE_SECONDS,
        what=f"the films of user {user_id}",
        user_id=user_id,
    )


def owned_forget(*, user_id: int) -> None:
    """Drop the user's cached owned films (after a purchase or a cancel commits). If the
    cache fails, the old set lasts until its timeout: logged; a mark may be stale that
    long, never a purchase (the database decides those)."""
    forget(_owned_key(user_id), what=f"the films of user {user_id}")


def watch_position(*, user_id: int, vod_id: int) -> float:
    """Where the owner of a film left off in it, in seconds (0.0: from the start)."""
    position = (
        WatchProgress.objects.filter(
            purchase__user_id=user_id,
            purchase__vod_id=vod_id,
            purchase__status=Purchase.Status.PAID,
        )
        .values_list("position_seconds", flat=True)
        .first()
    )
    return position or 0.0


def progress_of(*, user_id: int, vod_id: int) -> WatchProgress | None:
    """The owner's progress in a film they own (None: not started); `Purchase.
    DoesNotExist` when they do not own it."""
    purchase = Purchase.objects.get(user_id=user_id, vod_id=vod_id, status=Purchase.Status.PAID)
    return WatchProgress.objects.filter(purchase=purchase).first()


# A film watched to within this share of its end counts as finished: it leaves
# "Continue watching".
FINISHED_SHARE = 0.95


def continue_watching(*, user_id: int) -> QuerySet[WatchProgress]:
    """The films the user owns, started and not finished, most recently watched first
    (`CONTINUE_WATCHING`: the same, compiled)."""
    return (
        WatchProgress.objects.filter(
            purchase__user_id=user_id,
            purchase__status=Purchase.Status.PAID,
            position_seconds__gt=0,
        )
        .filter(
            Q(duration_seconds__isnull=True)
            | Q(position_seconds__lt=F("duration_seconds") * FINISHED_SHARE)
        )
        .select_related("purchase")
        .order_by("-updated_at", "-id")
    )


CONTINUE_WATCHING = Compiled(lambda user_id: continue_watching(user_id=user_id), user_id=-1)


def continue_watching_among(purchases: Iterable[Purchase]) -> list[WatchProgress]:
    """`continue_watching` among purchases already read with their progress (all the
    user's paid ones: a library on one page), in the same order."""
    started = [
        purchase.progress
        for purchase in purchases
        if (progress := getattr(purchase, "progress", None)) is not None
        and purchase.status == Purchase.Status.PAID
        and progress.position_seconds > 0
        and (
            progress.duration_seconds is None
            or progress.position_seconds < progress.duration_seconds * FINISHED_SHARE
        )
    ]
    return sorted(started, key=lambda progress: (progress.updated_at, progress.id), reverse=True)


@dataclass(frozen=True)
class PurchaseDayTotals:
    """The purchases made on one store day (those cancelled since included), and how
    many of them were paid with points."""

    purchases: int = 0
    with_points: int = 0


def purchase_daily_totals(*, first_day: date, last_day: date) -> dict[date, PurchaseDayTotals]:
    """Per store day from `first_day` to `last_day`, in one query; days without a
    purchase are absent."""
    days = totals_per_day(
        Purchase.objects.all(),
        field="created_at",
        first_day=first_day,
        last_day=last_day,
        purchases=Count("id"),
        with_points=Count("id", filter=Q(payment_method=PaymentMethod.MILEAGE)),
    )
    return {day: PurchaseDayTotals(**totals) for day, totals in days.items()}
