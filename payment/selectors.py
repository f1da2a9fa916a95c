"""Reads of payment: a user's payments, and the payment of given purchases."""

from django.db.models import QuerySet

from payment.models import Operation, Payment
from payment.services import PaymentInfo, payment_info


def payment_list(*, user_id: int, purchase_id: int | None = None) -> QuerySet[Payment]:
    """The user's payments, newest first, optionally of one purchase."""
    payments = Payment.objects.filter(user_id=user_id)
    if purchase_id is not None:
        payments = payments.filter(purchase_id=purchase_id)
    return payments


def payments_by_purchase(*, purchase_ids: list[int]) -> dict[int, PaymentInfo]:
    """The payments of the given purchases, by purchase id, in one query."""
    return {
        p.purchase_id: payment_info(p) for p in Payment.objects.filter(purchase_id__in=purchase_ids)
    }


def purchase_paid_by_request(*, request_key: str) -> int | None:
    """The purchase that the buyer's request named `request_key` paid for, if one
    committed (its process may have died before answering)."""
    return (
        Operation.objects.filter(request_key=request_key, purchase_id__isnull=False)
        .values_list("purchase_id", flat=True)
        .first()
    )
