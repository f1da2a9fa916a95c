"""Writes to payment. Money moves as with a real processor: a card is authorized before
the purchase's write transaction, the purchase records the authorization it used, and
once that transaction has ended the store reads the database to decide: capture what
a committed purchase uses, void what none does. A cancelled purchase's charge is
refunded. Every gateway call is an `Operation` row committed before the call, whose
key the gateway receives, so a retry after any crash repeats the same operation; what
a crash leaves in doubt, `payment.reconcile` finishes."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from mileage.services import mileage_spend
from payment.events import PaymentApproved, PaymentCancelled
from payment.exceptions import PaymentDeclined, PaymentUnavailable
from payment.gateway import GatewayDeclined, GatewayError, GatewayRejected, get_gateway
from payment.guard import GuardRefused, get_guard
from payment.models import Operation, Payment
from vodstore.events import publish
from vodstore.vocabulary import PaymentMethod

logger = logging.getLogger(__name__)

Kind, State = Operation.Kind, Operation.State


@dataclass(frozen=True)
class PaymentAuthorization:
    """A payment that may now be recorded: a card authorization (its operation), a
    promise of points, or nothing to charge (a free-of-charge film)."""

    method: str
    amount: int
    operation_id: int | None = None
    reference: str = ""
    gateway: str = ""


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


# --- recording operations ---------------------------------------------------------------


def operation_finish(
    operation: Operation, state: str, *, reference: str = "", error: str = ""
) -> None:
    """Record the gateway's answer to `operation` (in its own short transaction)."""
    operation.state = state
    operation.reference = reference or operation.reference
    operation.last_error = error[:2000]
    operation.save(update_fields=["state", "reference", "last_error", "updated_at"])


def _failed_attempt(operation: Operation, error: Exception) -> None:
    """The call failed without an answer: the operation stays pending, in doubt."""
    Operation.objects.filter(pk=operation.pk).update(
        attempts=operation.attempts + 1, last_error=repr(error)[:2000], updated_at=timezone.now()
    )


def _authorization_for(
    *, user_id: int, amount: int, request_key: str | None
) -> tuple[Operation, bool]:
    """The authorization to use, and whether an earlier attempt of the same request
    made it (that attempt may have reached the gateway, or still be on its way): the
    one a crashed or timed-out attempt left (so its retry makes no second charge), or a
    new one, committed before any call."""
    gateway = get_gateway().name
    if request_key is not None:
        live = Operation.objects.filter(
            request_key=request_key, purchase_id__isnull=True, released_at__isnull=True
        ).exclude(state=State.FAILED)
        if (found := live.first()) is not None and found.amount == amount:
            return found, True
    try:
        with transaction.atomic():
            created = Operation.objects.create(
                kind=Kind.AUTHORIZE,
                gateway=gateway,
                amount=amount,
                user_id=user_id,
                request_key=request_key,
            )
            return created, False
    except IntegrityError:
        # the same request, resumed twice at once (or the price changed): take over
        # the live one; a changed price makes the old one unusable
        found = Operation.objects.get(
            request_key=request_key, purchase_id__isnull=True, released_at__isnull=True
        )
        if found.amount != amount:
            raise PaymentUnavailable(retry_after=1) from None
        return found, True


def payment_authorize(
    *, method: str, price: int, user_id: int, request_key: str | None = None
) -> PaymentAuthorization:
    """Authorize a card through the gateway, outside any database transaction.

    Mileage needs nothing from the gateway: its points are spent by `payment_record`
    inside the purchase's transaction; a film of ₩0 has nothing to charge. With a
    `request_key` (the buyer's idempotency key), a retry of a request whose process
    died resumes the same authorization. Raises `PaymentDeclined` or
    `PaymentUnavailable` (the outcome is then left for the reconciler to find out)."""
    if method == PaymentMethod.MILEAGE:
        return PaymentAuthorization(method=method, amount=settings.MILEAGE_FREE_VOD_COST)
    if price == 0:
        return PaymentAuthorization(method=method, amount=0)
    # An open breaker refuses before anything is written: a refused buyer costs no write.
    get_guard().refuse_if_open()
    operation, resumed = _authorization_for(user_id=user_id, amount=price, request_key=request_key)
    if operation.state == State.PENDING:
        gateway = get_gateway()
        try:
            charge = get_guard().call(
                lambda: gateway.authorize(amount=price, idempotency_key=operation.key)
            )
        except GuardRefused:
            # Not sent this time. An earlier attempt of the request may have sent it
            # (its answer lost, or still on its way): that one stays pending, in doubt,
            # for the reconciler to look up; only one never sent at all has failed.
            if not resumed:
                operation_finish(operation, State.FAILED, error="refused by the guard: never sent")
            raise
        except GatewayDeclined as exc:
            operation_finish(operation, State.FAILED, error=f"declined: {exc}")
            raise PaymentDeclined("The card payment was declined.") from exc
        except GatewayRejected as exc:
            operation_finish(operation, State.FAILED, error=f"rejected: {exc}")
            raise PaymentDeclined("The card payment was declined.") from exc
        except PaymentUnavailable as exc:
            # Failed or timed out: it may have gone through. Left pending, in doubt;
            # the reconciler asks the gateway and voids it if it did.
            _failed_attempt(operation, exc.__cause__ or exc)
            raise
        operation_finish(operation, State.SUCCEEDED, reference=charge.reference)
    return PaymentAuthorization(
        method=method,
        amount=price,
        operation_id=operation.id,
        reference=operation.reference,
        gateway=operation.gateway,
    )


@transaction.atomic(savepoint=False)
def payment_record(
    *, authorization: PaymentAuthorization, user_id: int, purchase_id: int
) -> PaymentInfo:
    """Record the approved payment of a purchase, inside the purchase's transaction.

    A card authorization is attached to the purchase by a conditional update: one the
    reconciler has already let go cannot be used (`PaymentUnavailable`, rolling the
    purchase back). Its capture is recorded here too, to be made once this commits:
    a committed purchase always leaves a capture to make, and only one.

    For mileage this spends the points (raising `InsufficientMileage`,
    which rolls the purchase back); the spend's ledger entry names this payment's
    approval event."""
    if authorization.operation_id is not None:
        attached = Operation.objects.filter(
            pk=authorization.operation_id,
            state=State.SUCCEEDED,
            purchase_id__isnull=True,
            released_at__isnull=True,
        ).update(purchase_id=purchase_id, updated_at=timezone.now())
        if not attached:
            raise PaymentUnavailable(retry_after=1)
        Operation.objects.create(
            kind=Kind.CAPTURE,
            authorization_id=authorization.operation_id,
            gateway=authorization.gateway,
            amount=authorization.amount,
            user_id=user_id,
            reference=authorization.reference,
        )
    payment = Payment.objects.create(
        purchase_id=purchase_id,
        user_id=user_id,
        method=authorization.method,
        amount=authorization.amount,
        gateway=authorization.gateway,
        gateway_reference=authorization.reference,
        authorization_id=authorization.operation_id,
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
    if authorization.method == PaymentMethod.MILEAGE:
        mileage_spend(user_id=user_id, purchase_id=purchase_id, event_id=event_id)
    return payment_info(payment)


# --- after the purchase: capture or void, decided by the database ----------------------


def payment_settle(*, authorization: PaymentAuthorization) -> None:
    """Finish a card authorization once its purchase's transaction has ended, however
    it ended: capture it if the purchase committed (read from the database, never
    guessed from an exception), release and void it if not.

    Never raises: the purchase's answer does not depend on it, and whatever it cannot
    finish now (gateway or database down) the reconciler finishes later."""
    if authorization.operation_id is None:
        return
    try:
        # The capture is recorded in the purchase's transaction: there is one exactly
        # when the purchase committed.
        found = Operation.objects.filter(
            authorization_id=authorization.operation_id, kind=Kind.CAPTURE
        )
        capture = next(iter(found), None)
        if capture is not None:
            operation_execute(operation=capture)
        else:
            authorization_release(
                authorization=Operation.objects.get(pk=authorization.operation_id)
            )
    except Exception:
        logger.warning(
            "authorization %s left for the reconciler", authorization.operation_id, exc_info=True
        )


def _followup(authorization: Operation, kind: str, amount: int) -> Operation:
    """The void or refund of `authorization`, recorded once (own transaction)."""
    try:
        with transaction.atomic():
            return Operation.objects.create(
                authorization=authorization,
                kind=kind,
                gateway=authorization.gateway,
                amount=amount,
                user_id=authorization.user_id,
                reference=authorization.reference,
            )
    except IntegrityError:  # recorded before, or by a concurrent caller
        return Operation.objects.get(authorization=authorization, kind=kind)


def operation_execute(*, operation: Operation, guarded: bool = False) -> str:
    """Make a recorded capture, void or refund at the gateway with its own key (again,
    if it was made before: the gateway answers the first result) and record the answer.
    Returns the operation's state; a fault leaves it pending.

    Captures and voids are not guarded: finishing committed business and releasing a
    customer's money must not be refused by an open breaker. Refunds are, so that a
    cancel's handler fails fast while the gateway is down and is retried later."""
    if operation.state != State.PENDING:
        return operation.state
    gateway = get_gateway()
    call = {
        Kind.CAPTURE: lambda: gateway.capture(
            reference=operation.reference, amount=operation.amount, idempotency_key=operation.key
        ),
        Kind.VOID: lambda: gateway.void(
            reference=operation.reference, idempotency_key=operation.key
        ),
        Kind.REFUND: lambda: gateway.refund(
            reference=operation.reference, amount=operation.amount, idempotency_key=operation.key
        ),
    }[operation.kind]
    try:
        if guarded:
            get_guard().call(call)
        else:
            call()
    except GatewayRejected as exc:
        logger.warning("%s refused for good: %s", operation, exc)
        operation_finish(operation, State.FAILED, error=f"rejected: {exc}")
    except (GatewayError, PaymentUnavailable) as exc:
        _failed_attempt(operation, exc)
    else:
        operation_finish(operation, State.SUCCEEDED)
    return operation.state


def authorization_release(*, authorization: Operation) -> bool:
    """Let go of an authorization no committed purchase uses, and void it; False when
    a purchase got it first. Release and void are recorded in one transaction, so no
    crash can leave a released authorization without its void to finish. An
    authorization still in doubt is released now and voided once the reconciler has
    found out that it went through."""
    with transaction.atomic():
        Operation.objects.filter(
            pk=authorization.pk, purchase_id__isnull=True, released_at__isnull=True
        ).update(released_at=timezone.now(), updated_at=timezone.now())
        authorization.refresh_from_db()
        if authorization.purchase_id is not None:
            return False
        if authorization.state == State.FAILED:
            return True  # never authorized: nothing to void
        if authorization.state == State.PENDING:
            return True  # voided once the reconciler finds out it went through
        void = _followup(authorization, Kind.VOID, 0)
    operation_execute(operation=void)
    return True


# --- cancelling -------------------------------------------------------------------------


def payment_cancel(*, purchase_id: int) -> bool:
    """Cancel the payment of a cancelled purchase; False if there is nothing to cancel.

    A card payment is refunded through the gateway first, outside any transaction:
    its capture is made sure of (the same operation, if settling had not finished),
    then its one refund operation is made, with the same key however often this
    runs. Raises `PaymentUnavailable` while the gateway cannot be reached (the event
    handler is retried later). The payment is then marked cancelled with a
    conditional update, so a repeated call never publishes `PaymentCancelled` twice."""
    payment = Payment.objects.filter(purchase_id=purchase_id).select_related("authorization")
    payment = payment.first()
    if payment is None or payment.status != Payment.Status.APPROVED:
        return False
    if payment.authorization is not None:
        _refund(payment)
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


def _refund(payment: Payment) -> None:
    authorization = payment.authorization
    capture = Operation.objects.get(authorization=authorization, kind=Kind.CAPTURE)
    captured = operation_execute(operation=capture)
    if captured == State.PENDING:
        raise PaymentUnavailable(retry_after=5)
    if captured == State.FAILED:
        # The authorization expired or was voided: no money was ever taken.
        logger.error("payment %s: its charge could not be captured; nothing to refund", payment)
        return
    refund = _followup(authorization, Kind.REFUND, payment.amount)
    if operation_execute(operation=refund, guarded=True) == State.PENDING:
        raise PaymentUnavailable(retry_after=5)


def payments_reconcile(*, grace_seconds: float | None = None):
    """Finish every gateway operation left in doubt (`payment.reconcile`); the outbox
    worker runs it. Here, on the app's public surface, for the project's commands."""
    from payment import reconcile  # late: the reconciler builds on this module

    return reconcile.payments_reconcile(grace_seconds=grace_seconds)


# --- history ----------------------------------------------------------------------------


def operations_prune(*, days: int | None = None, batch_size: int = 1000) -> int:
    """Delete the gateway operations that moved no money and that nothing refers to,
    once older than `days` (`PAYMENT_OPERATION_RETENTION_DAYS`): failed authorizations,
    and authorizations released and voided, with their void. A purchase's operations
    are its money record and stay. Batches of `batch_size`, each its own transaction;
    returns how many operations went."""
    days = settings.PAYMENT_OPERATION_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    followups = Operation.objects.filter(authorization=OuterRef("pk"))
    paid = Exists(Payment.objects.filter(authorization=OuterRef("pk")))
    failed = (
        Operation.objects.filter(
            kind=Kind.AUTHORIZE, state=State.FAILED, purchase_id__isnull=True, created_at__lt=cutoff
        )
        .exclude(Exists(followups))
        .exclude(paid)
    )
    voided = (
        Operation.objects.filter(
            kind=Kind.AUTHORIZE,
            state=State.SUCCEEDED,
            purchase_id__isnull=True,
            released_at__lt=cutoff,
        )
        .filter(Exists(followups.filter(kind=Kind.VOID, state=State.SUCCEEDED)))
        .exclude(Exists(followups.exclude(kind=Kind.VOID)))
        .exclude(paid)
    )
    deleted = 0
    for selection in (failed, voided):
        while True:
            with transaction.atomic(durable=True):
                chosen = selection.order_by("pk")
                if connection.features.has_select_for_update_skip_locked:
                    chosen = chosen.select_for_update(skip_locked=True)
                ids = list(chosen.values_list("pk", flat=True)[:batch_size])
                # the voids first: an operation's authorization is PROTECTed
                deleted += Operation.objects.filter(authorization_id__in=ids).delete()[0]
                deleted += Operation.objects.filter(pk__in=ids).delete()[0]
            if len(ids) < batch_size:
                break
    return deleted
