"""Reads of payment: a user's payments, the payment of given purchases, and the money
of each day for the staff."""

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Q, QuerySet, Sum

from payment.models import Operation, Payment
from payment.services import PaymentInfo, payment_info
from vodstore.reports import totals_per_day
from vodstore.vocabulary import PaymentMethod


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


@dataclass(frozen=True)
class PaymentDayTotals:
    """The money of one store day: won paid by card (`revenue`, counted on the day of
    the payment, cancelled since or not), and the payments cancelled that day
    (`refunds`, by card or points) with the won given back by card (`refunded`)."""

    revenue: int = 0
    refunds: int = 0
    refunded: int = 0


def payment_daily_totals(*, first_day: date, last_day: date) -> dict[date, PaymentDayTotals]:
    """Per store day from `first_day` to `last_day`, in two queries (payments by the day
    they were approved, cancellations by the day they were cancelled); days with
    neither are absent."""
    card = Q(method=PaymentMethod.CARD)
    span = {"first_day": first_day, "last_day": last_day}
    approved = totals_per_day(
        Payment.objects.all(), field="approved_at", revenue=Sum("amount", filter=card), **span
    )
    cancelled = totals_per_day(
        Payment.objects.filter(status=Payment.Status.CANCELLED),
        field="cancelled_at",
        refunds=Count("id"),
        refunded=Sum("amount", filter=card),
        **span,
    )
    return {
        day: PaymentDayTotals(**approved.get(day, {}), **cancelled.get(day, {}))
        for day in approved.keys() | cancelled.keys()
    }
