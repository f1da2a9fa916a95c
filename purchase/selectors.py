"""Reads of purchases: a user's purchases and owned films."""

from django.db.models import QuerySet

from purchase.models import Purchase


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
