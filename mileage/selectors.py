"""Reads of mileage: a user's balance and ledger."""

from django.db.models import QuerySet

from mileage.models import MileageAccount, MileageEntry


def mileage_balance(*, user_id: int) -> int:
    """The user's balance (0 before the first entry)."""
    balance = MileageAccount.objects.filter(user_id=user_id).values_list("balance", flat=True)
    return balance.first() or 0


def mileage_entries(*, user_id: int) -> QuerySet[MileageEntry]:
    """The user's ledger, newest first."""
    return MileageEntry.objects.filter(account_id=user_id).order_by("-created_at", "-id")
