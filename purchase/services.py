"""The buy and cancel use cases. The transaction of a purchase lives here."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.selectors import VodNotFound, vod_get_for_sale
from payment.selectors import payments_by_purchase, purchase_paid_by_request
from payment.services import (
    PaymentInfo,
    payment_authorize,
    payment_record,
    payment_settle,
)
from purchase.events import VodPurchaseCancelled, VodPurchased
from purchase.exceptions import AlreadyOwned, NotCancellable, PurchaseNotFound, VodNotAvailable
from purchase.models import IdempotencyKey, Purchase
from purchase.selectors import purchase_of_vod
from vodstore.events import publish

PAYMENT_METHODS = ("card", "mileage")


@dataclass(frozen=True)
class PurchaseResult:
    purchase: Purchase
    payment: PaymentInfo


def _owns(*, user_id: int, vod_id: int) -> bool:
    return purchase_of_vod(user_id=user_id, vod_id=vod_id) is not None


def purchase_create(
    *,
    user_id: int,
    vod_id: int,
    payment_method: str = "card",
    idempotency_key_id: int | None = None,
    request_key: str | None = None,
) -> PurchaseResult:
    """Buy a film: approved only with its payment, or nothing is written.

    The card is authorized before the write transaction opens (a slow gateway must not
    hold the database write lock); the purchase, its payment, the points spent and
    the events then commit together. Once the transaction has ended, however it ended,
    the payment service reads the database and captures the authorization if the
    purchase committed or voids it if not. `request_key` names the buyer's request
    (its idempotency key), so a retry after a crash resumes the same authorization,
    and a retry of a request that did buy the film is told of that purchase.
    Raises `VodNotAvailable`, `AlreadyOwned`, `PaymentDeclined`, `PaymentUnavailable`
    or `InsufficientMileage`."""
    try:
        vod = vod_get_for_sale(vod_id=vod_id)
    except VodNotFound as exc:
        raise VodNotAvailable(errors={"vod": ["No film on sale has this id."]}) from exc
    if _owns(user_id=user_id, vod_id=vod_id):
        return _bought_by_this_request(request_key, idempotency_key_id)

    authorization = payment_authorize(
        method=payment_method, price=vod.price, user_id=user_id, request_key=request_key
    )
    try:
        with transaction.atomic():
            purchase = Purchase.objects.create(
                user_id=user_id,
                vod_id=vod.id,
                vod_title=vod.title,
                payment_method=payment_method,
                amount=authorization.amount,
            )
            payment = payment_record(
                authorization=authorization, user_id=user_id, purchase_id=purchase.id
            )
            publish(
                VodPurchased(
                    purchase_id=purchase.id,
                    user_id=user_id,
                    vod_id=vod.id,
                    payment_method=payment_method,
                    amount=purchase.amount,
                )
            )
            if idempotency_key_id is not None:
                IdempotencyKey.objects.filter(pk=idempotency_key_id).update(purchase_id=purchase.id)
    except IntegrityError:
        # The partial unique constraint: a concurrent request bought it first.
        if _owns(user_id=user_id, vod_id=vod_id):
            return _bought_by_this_request(request_key, idempotency_key_id)
        raise
    finally:
        payment_settle(authorization=authorization)
    return PurchaseResult(purchase=purchase, payment=payment)


def _bought_by_this_request(
    request_key: str | None, idempotency_key_id: int | None
) -> PurchaseResult:
    """The purchase of a film the buyer owns, when this very request bought it (a
    retry that took over the claim of a request still finishing, or whose process
    died after the commit), told as a replay would; otherwise `AlreadyOwned`."""
    purchase_id = request_key and purchase_paid_by_request(request_key=request_key)
    if not purchase_id:
        raise AlreadyOwned()
    if idempotency_key_id is not None:
        IdempotencyKey.objects.filter(pk=idempotency_key_id).update(purchase_id=purchase_id)
    payment = payments_by_purchase(purchase_ids=[purchase_id])[purchase_id]
    return PurchaseResult(purchase=Purchase.objects.get(pk=purchase_id), payment=payment)


def purchase_cancel(*, user_id: int, purchase_id: int, as_staff: bool = False) -> Purchase:
    """Cancel a paid purchase; its payment and points are reversed by event handlers.

    Raises `PurchaseNotFound` when it does not exist or is someone else's (unless
    `as_staff`), and `NotCancellable` when it is not paid."""
    scope = Purchase.objects.filter(pk=purchase_id)
    if not as_staff:
        scope = scope.filter(user_id=user_id)
    with transaction.atomic():
        cancelled = scope.filter(status=Purchase.Status.PAID).update(
            status=Purchase.Status.CANCELLED, cancelled_at=timezone.now()
        )
        purchase = scope.first()
        if purchase is None:
            raise PurchaseNotFound()
        if not cancelled:
            raise NotCancellable()
        publish(
            VodPurchaseCancelled(
                purchase_id=purchase.id,
                user_id=purchase.user_id,
                vod_id=purchase.vod_id,
                payment_method=purchase.payment_method,
                amount=purchase.amount,
            )
        )
    return purchase
