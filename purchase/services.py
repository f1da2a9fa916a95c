"""The buy and cancel use cases. The transaction of a purchase lives here."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import FloatField, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from catalog.selectors import VodNotFound, vod_get_for_sale, vod_media
from mileage.exceptions import InsufficientMileage
from payment.exceptions import PaymentDeclined
from payment.selectors import payments_by_purchase, purchase_paid_by_request
from payment.services import (
    PaymentInfo,
    payment_authorize,
    payment_record,
    payment_settle,
)
from purchase import idempotency
from purchase.events import VodPurchaseCancelled, VodPurchased
from purchase.exceptions import (
    AlreadyOwned,
    NotCancellable,
    PurchaseNotFound,
    RefundRefusal,
    VodNotAvailable,
)
from purchase.models import IdempotencyKey, Purchase, WatchProgress
from purchase.selectors import owned_forget, purchase_of_vod
from purchase.throttling import purchase_attempt
from vodstore.errors import DomainError
from vodstore.events import publish
from vodstore.vocabulary import PaymentMethod


@dataclass(frozen=True)
class PurchaseResult:
    purchase: Purchase
    payment: PaymentInfo


@dataclass(frozen=True)
class BuyOutcome:
    """The answer to a buy request: 201 and the body of the purchase, or the first
    answer to its idempotency key again (`replayed`), which may be a refusal."""

    status: int
    body: dict
    replayed: bool = False
    # the refusal a replayed non-201 answer was (a page shows its message)
    refusal: DomainError | None = None


# The refusals an idempotency key stores and replays (what `purchase_create` raises,
# but for the retryable ones, which are not stored).
_STORED_REFUSALS = {
    refusal.code: refusal
    for refusal in (VodNotAvailable, AlreadyOwned, PaymentDeclined, InsufficientMileage)
}


def purchase_buy(
    *,
    user_id: int,
    vod_id: int,
    payment_method: str,
    idempotency_key: str | None,
    describe: Callable[[PurchaseResult], dict],
    wait_seconds: float = 0.0,
) -> BuyOutcome:
    """Buy a film, for the API and the storefront alike: count one attempt against
    the user's purchase rate (`PurchaseThrottled`), then `purchase_create` once per
    `idempotency_key`, whose first answer, even a refusal, is replayed after.

    `describe(result)` makes the body of a new purchase, which the key stores and
    replays as it was; the caller's representation. Without a key the purchase is
    simply made. A request arriving while the first with its key is still running
    waits up to `wait_seconds` for its answer, then raises `IdempotencyInProgress`.
    Refusals of this request are raised (`DomainError`); a replayed one is returned
    (`BuyOutcome.refusal`)."""
    request_key = (
        idempotency.request_key(user_id=user_id, key=idempotency_key) if idempotency_key else None
    )

    def buy(claim_id: int | None = None) -> dict:
        result = purchase_create(
            user_id=user_id,
            vod_id=vod_id,
            payment_method=payment_method,
            idempotency_key_id=claim_id,
            request_key=request_key,
        )
        return describe(result)

    with purchase_attempt(user_id=user_id):
        if idempotency_key is None:
            return BuyOutcome(201, buy())
        outcome = idempotency.run_once(
            user_id=user_id,
            key=idempotency_key,
            request_fingerprint=idempotency.fingerprint(
                {"vod": vod_id, "payment_method": payment_method}
            ),
            action=buy,
            describe_purchase=lambda purchase_id: describe(_purchase_result(purchase_id)),
            wait_seconds=wait_seconds,
        )
    refusal = None
    if outcome.status != 201:
        stored = _STORED_REFUSALS.get(outcome.body.get("code"), DomainError)
        refusal = stored.from_body(outcome.body)
    return BuyOutcome(outcome.status, outcome.body, outcome.replayed, refusal)


def _purchase_result(purchase_id: int) -> PurchaseResult:
    payment = payments_by_purchase(purchase_ids=[purchase_id])[purchase_id]
    return PurchaseResult(purchase=Purchase.objects.get(pk=purchase_id), payment=payment)


def _owns(*, user_id: int, vod_id: int) -> bool:
    return purchase_of_vod(user_id=user_id, vod_id=vod_id) is not None


def purchase_create(
    *,
    user_id: int,
    vod_id: int,
    payment_method: str = PaymentMethod.CARD,
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
            transaction.on_commit(lambda: owned_forget(user_id=user_id), robust=True)
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
    return _purchase_result(purchase_id)


def purchase_cancel(*, user_id: int, purchase_id: int, as_staff: bool = False) -> Purchase:
    """Cancel a paid purchase; its payment and points are reversed by event handlers.

    Its owner may cancel only within the refund window (`REFUND_WINDOW_DAYS`) and
    before the film has played past `REFUND_WATCHED_SECONDS`; staff (`as_staff`) may
    cancel any paid purchase at any time. Raises `PurchaseNotFound` when it does not
    exist or is someone else's (unless `as_staff`), and `NotCancellable`, with the
    reason, otherwise. The rules are part of the conditional UPDATE, so a position
    saved or a window closing at the same moment cannot slip between check and cancel."""
    scope = Purchase.objects.filter(pk=purchase_id)
    if not as_staff:
        scope = scope.filter(user_id=user_id)
    cancellable = scope.filter(status=Purchase.Status.PAID)
    if not as_staff:
        cancellable = cancellable.filter(created_at__gte=_refund_window_opened()).exclude(
            progress__furthest_seconds__gte=settings.REFUND_WATCHED_SECONDS
        )
    with transaction.atomic():
        cancelled = cancellable.update(
            status=Purchase.Status.CANCELLED, cancelled_at=timezone.now()
        )
        purchase = scope.select_related("progress").first()
        if purchase is None:
            raise PurchaseNotFound()
        if not cancelled:
            raise _why_not_cancellable(purchase)
        owner = purchase.user_id
        transaction.on_commit(lambda: owned_forget(user_id=owner), robust=True)
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


def _refund_window_opened():
    return timezone.now() - timedelta(days=settings.REFUND_WINDOW_DAYS)


def refund_rules(purchase: Purchase) -> str | None:
    """Why the owner can no longer cancel `purchase` for a refund (a `reason` code of
    `NotCancellable`), or None while they can."""
    if purchase.status != Purchase.Status.PAID:
        return RefundRefusal.NOT_PAID
    if purchase.created_at < _refund_window_opened():
        return RefundRefusal.WINDOW_PASSED
    # no progress yet: the reverse one-to-one raises an AttributeError, hence None
    progress = getattr(purchase, "progress", None)
    if progress is not None and progress.furthest_seconds >= settings.REFUND_WATCHED_SECONDS:
        return RefundRefusal.WATCHED
    return None


def _why_not_cancellable(purchase: Purchase) -> NotCancellable:
    reason = refund_rules(purchase) or RefundRefusal.NOT_PAID
    detail = {
        RefundRefusal.NOT_PAID: NotCancellable.default_detail,
        RefundRefusal.WINDOW_PASSED: (
            f"The refund window ({settings.REFUND_WINDOW_DAYS} days after buying) has passed."
        ),
        RefundRefusal.WATCHED: (
            f"The film has played past {settings.REFUND_WATCHED_SECONDS // 60} minutes, "
            "so it can no longer be refunded."
        ),
    }[reason]
    return NotCancellable(detail, reason=reason)


def progress_save(*, user_id: int, vod_id: int, position_seconds: float) -> WatchProgress:
    """Remember where the owner of `vod_id` is in it (and how far it ever played).
    `PurchaseNotFound` unless they own it. The position is kept within the feature's
    length when it is known."""
    purchase = purchase_of_vod(user_id=user_id, vod_id=vod_id)
    if purchase is None:
        raise PurchaseNotFound()
    media = vod_media(vod_id=vod_id, kind="feature")
    duration = media.duration_seconds if media else None
    position = max(0.0, position_seconds)
    if duration is not None:
        position = min(position, duration)
    progress, created = WatchProgress.objects.get_or_create(
        purchase=purchase,
        defaults={
            "position_seconds": position,
            "furthest_seconds": position,
            "duration_seconds": duration,
        },
    )
    if not created:
        # furthest only grows, also when two saves race: Greatest in the UPDATE
        WatchProgress.objects.filter(pk=progress.pk).update(
            position_seconds=position,
            furthest_seconds=Greatest(
                "furthest_seconds", Value(position, output_field=FloatField())
            ),
            duration_seconds=duration,
            updated_at=timezone.now(),
        )
        progress.refresh_from_db()
    return progress


def idempotency_keys_purge() -> int:
    """Forget Idempotency-Key answers older than `IDEMPOTENCY_KEY_TTL_HOURS` (history
    retention runs it); return how many."""
    return idempotency.idempotency_purge()
