"""Reads of purchases: a user's purchases and owned films, and where they are in them."""

from django.db.models import F, Q, QuerySet

from purchase.models import Purchase, WatchProgress


def purchase_list(*, user_id: int, status: str | None = None) -> QuerySet[Purchase]:
    """The user's purchases, newest first, optionally of one status."""
    purchases = Purchase.objects.filter(user_id=user_id).order_by("-created_at", "-id")
    if status:
        purchases = purchases.filter(status=status)
    return purchases


def purchase_get(*, user_id: int, purchase_id: int) -> Purchase:
    """One of the user's purchases, or `Purchase.DoesNotExist` (also for others')."""
    return Purchase.objects.get(pk=purchase_id, user_id=user_id)


def purchase_of_vod(*, user_id: int, vod_id: int) -> Purchase | None:
    """The user's paid purchase of a film, or None when the user does not own it."""
    return Purchase.objects.filter(
        user_id=user_id, vod_id=vod_id, status=Purchase.Status.PAID
    ).first()


def owned_vod_ids(*, user_id: int) -> set[int]:
    """The films the user owns (paid, not cancelled)."""
    return set(
        Purchase.objects.filter(user_id=user_id, status=Purchase.Status.PAID).values_list(
            "vod_id", flat=True
        )
    )


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
    """The films the user owns, started and not finished, most recently watched first."""
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
