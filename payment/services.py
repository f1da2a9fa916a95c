"""Writes to payment: authorize outside the purchase's transaction, record inside it,
void if it fails, cancel (refund) when a purchase is cancelled."""

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mileage.services import mileage_spend
from payment.events import PaymentApproved, PaymentCancelled
from payment.exceptions import PaymentDeclined
from payment.gateway import GatewayDeclined, get_gateway
from payment.guard import get_guard
from payment.models import Method, Payment
from vodstore.events import publish

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaymentAuthorization:
    """A payment that may now be recorded: a card charge or a promise of points."""

    method: str
    amount: int
    reference: str = ""


@dataclass(frozen=True)
class PaymentInfo:
    id: int
    purchase_id: int
    status: str
    method: str
    amount: int


def payment_info(payment: Payment) -> PaymentInfo:
    return PaymentInfo(
        id=payment.id,
        purchase_id=payment.purchase_id,
        status=payment.status,
        method=payment.method,
        amount=payment.amount,
    )


def payment_authorize(*, method: str, price: int) -> PaymentAuthorization:
    """Charge a card through the gateway, outside any database transaction.

    Mileage needs nothing from the gateway: its points are spent by `payment_record`
    inside the purchase's transaction."""
    if method == Method.MILEAGE:
        return PaymentAuthorization(method=method, amount=settings.MILEAGE_FREE_VOD_COST)
    gateway = get_gateway()
    key = uuid.uuid4().hex
    try:
        charge = get_guard().call(
            lambda: gateway.authorize(amount=price, idempotency_key=key),
            # a charge that arrives after the timeout belongs to no purchase: release it
            on_late_result=lambda late: gateway.void(reference=late.reference),
        )
    except GatewayDeclined as exc:
        raise PaymentDeclined("The card payment was declined.") from exc
    return PaymentAuthorization(method=method, amount=price, reference=charge.reference)


@transaction.atomic(savepoint=False)
def payment_record(
    *, authorization: PaymentAuthorization, user_id: int, purchase_id: int
) -> PaymentInfo:
    """Record the approved payment of a purchase, inside the purchase's transaction.

    For mileage this spends the points (raising `InsufficientMileage`, which rolls the
    purchase back); the spend's ledger entry names this payment's approval event."""
    payment = Payment.objects.create(
        purchase_id=purchase_id,
        user_id=user_id,
        method=authorization.method,
        amount=authorization.amount,
        gateway_reference=authorization.reference,
        approved_at=timezone.now(),
    )
    event_id = publish(
        PaymentApproved(
            payment_id=payment.id,
            purchase_id=purchase_id,
            user_id=user_id,
            method=payment.method,
            amount=payment.amount,
        )
    )
    if authorization.method == Method.MILEAGE:
        mileage_spend(user_id=user_id, purchase_id=purchase_id, event_id=event_id)
    return payment_info(payment)


def payment_void(*, authorization: PaymentAuthorization) -> None:
    """Release a card charge whose purchase did not commit (best effort, logged).

    Not through the guard: a compensation must not be refused by an open breaker."""
    if not authorization.reference:
        return
    try:
        get_gateway().void(reference=authorization.reference)
    except Exception:
        logger.exception("could not void authorization %s", authorization.reference)


def payment_cancel(*, purchase_id: int) -> bool:
    """Cancel the payment of a cancelled purchase; False if there is nothing to cancel.

    A card payment is refunded through the gateway first, outside any transaction
    (refunds are idempotent by reference), then marked cancelled with a conditional
    update, so a repeated call never publishes `PaymentCancelled` twice."""
    payment = Payment.objects.filter(purchase_id=purchase_id).first()
    if payment is None or payment.status != Payment.Status.APPROVED:
        return False
    if payment.method == Method.CARD:
        gateway = get_gateway()
        # Guarded: while the gateway is down the refund fails fast and the event
        # handler is retried later by the outbox worker.
        get_guard().call(
            lambda: gateway.refund(reference=payment.gateway_reference, amount=payment.amount)
        )
    with transaction.atomic():
        cancelled = Payment.objects.filter(pk=payment.pk, status=Payment.Status.APPROVED).update(
            status=Payment.Status.CANCELLED, cancelled_at=timezone.now()
        )
        if cancelled:
            publish(
                PaymentCancelled(
                    payment_id=payment.id,
                    purchase_id=purchase_id,
                    user_id=payment.user_id,
                    method=payment.method,
                    amount=payment.amount,
                )
            )
    return bool(cancelled)
