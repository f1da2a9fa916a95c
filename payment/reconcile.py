"""Reconciliation: finishing what a crash or an outage left in doubt, and comparing the
store's books with the gateway's.

`payments_reconcile` runs in the outbox worker's loop (and as `manage.py
payments_reconcile`). Only operations untouched for a grace period are taken, longer
than any gateway call can last, so it never races a request still under way:
- an operation whose answer was lost: an authorization is looked up at the gateway by
  its key; a capture, void or refund is made again with its key (the gateway answers
  the first result, so nothing moves twice);
  (a committed purchase's capture is recorded in its transaction, so a capture not
  made is one of these);
- an authorization that no committed purchase uses is released and voided;
- an authorization the gateway had not heard of is looked up again for
  `PAYMENT_LATE_AUTHORIZATION_SECONDS` after it was made: a request held up on the way
  (or a processor slower than its own deadline) may still reach it, and an
  authorization that went through after all is recorded, released and voided.

`payments_check` lists every disagreement between the books and the gateway's ledger:
a charge kept for no paid purchase, a paid purchase without its charge, a refund made
twice, an authorization held for nothing."""

from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from payment.gateway import GatewayError, get_gateway
from payment.models import Operation, Payment
from payment.services import (
    authorization_release,
    operation_execute,
    operation_finish,
)
from vodstore.vocabulary import PaymentMethod

Kind, State = Operation.Kind, Operation.State
BATCH = 500
NEVER_REACHED = "never reached the gateway"


def _cutoff(grace_seconds: float | None):
    grace = settings.PAYMENT_RECONCILE_GRACE_SECONDS if grace_seconds is None else grace_seconds
    return timezone.now() - timedelta(seconds=grace)


def payments_reconcile(*, grace_seconds: float | None = None) -> Counter:
    """Finish the operations left in doubt; return what was finished, by kind of
    action (what is still in doubt, the gateway being down, is not counted)."""
    cutoff = _cutoff(grace_seconds)
    done: Counter = Counter()
    gateway = get_gateway()

    for operation in Operation.objects.filter(state=State.PENDING, updated_at__lt=cutoff)[:BATCH]:
        if operation.kind != Kind.AUTHORIZE:
            if (state := operation_execute(operation=operation)) != State.PENDING:
                done[f"{operation.kind} {state}"] += 1
            continue
        try:
            found = gateway.lookup(idempotency_key=operation.key)
        except GatewayError:
            continue  # still in doubt: next time
        if found is None:
            operation_finish(operation, State.FAILED, error=NEVER_REACHED)
        elif found.outcome == "succeeded":
            operation_finish(operation, State.SUCCEEDED, reference=found.reference)
            if operation.purchase_id is None:  # its request gave up long ago
                authorization_release(authorization=operation)
        else:
            operation_finish(operation, State.FAILED, error=f"{found.outcome} at the gateway")
        done[f"authorization found {operation.state}"] += 1

    authorizations = Operation.objects.filter(
        kind=Kind.AUTHORIZE, state=State.SUCCEEDED, updated_at__lt=cutoff
    )
    followup = Operation.objects.filter(authorization=OuterRef("pk"))
    unused = authorizations.filter(purchase_id__isnull=True).exclude(
        Exists(followup.filter(kind=Kind.VOID))
    )
    for authorization in unused[:BATCH]:
        if authorization_release(authorization=authorization):
            done["unused authorization voided"] += 1
    done.update(_late_authorizations(gateway, cutoff))
    return done


def _late_authorizations(gateway, cutoff) -> Counter:
    """Look up again the authorizations the gateway had not heard of, while one might
    still reach it; record one that did (never for a purchase: its request was told it
    failed), let it go and void it."""
    done: Counter = Counter()
    since = timezone.now() - timedelta(seconds=settings.PAYMENT_LATE_AUTHORIZATION_SECONDS)
    unheard = Operation.objects.filter(
        kind=Kind.AUTHORIZE,
        state=State.FAILED,
        last_error=NEVER_REACHED,
        created_at__gte=since,
        updated_at__lt=cutoff,
    )
    for operation in unheard[:BATCH]:
        try:
            found = gateway.lookup(idempotency_key=operation.key)
        except GatewayError:
            continue  # next time
        if found is None or found.outcome != "succeeded":
            continue
        # succeeded and released in one update: never a live authorization a request
        # could take (its buyer may have a new one by now)
        recorded = Operation.objects.filter(
            pk=operation.pk, state=State.FAILED, purchase_id__isnull=True
        ).update(
            state=State.SUCCEEDED,
            reference=found.reference,
            released_at=timezone.now(),
            last_error=f"{NEVER_REACHED} at first; reached it late",
            updated_at=timezone.now(),
        )
        if recorded:  # released already: this makes and sends its void
            authorization_release(authorization=operation)
            done["late authorization voided"] += 1
    return done


def payments_check(*, grace_seconds: float | None = None) -> list[str]:
    """Every disagreement between the store's books and the gateway's ledger.

    Charges younger than the grace period may still be on their way (an authorization
    whose purchase is committing, a capture under way) and are not counted."""
    gateway = get_gateway()
    cutoff = _cutoff(grace_seconds).timestamp()
    charges = {c["reference"]: c for c in gateway.ledger()["charges"]}
    payments = {
        p.gateway_reference: p
        for p in Payment.objects.filter(method=PaymentMethod.CARD, gateway=gateway.name).exclude(
            gateway_reference=""
        )
    }
    problems = []
    for reference, charge in charges.items():
        kept = charge["status"] == "captured" and charge["refunded"] < charge["amount"]
        held = charge["status"] == "authorized"
        settled = charge["created_at"] < cutoff
        payment = payments.get(reference)
        paid = payment is not None and payment.status == Payment.Status.APPROVED
        if charge["refunds"] > 1:
            problems.append(f"charge {reference}: refunded {charge['refunds']} times")
        if not paid and kept:
            problems.append(f"charge {reference}: ₩{charge['amount']} kept for no paid purchase")
        elif not paid and held and settled:
            problems.append(f"charge {reference}: authorization held for no paid purchase")
        elif paid and not kept and (settled or not held):
            problems.append(
                f"purchase {payment.purchase_id}: paid, but its charge {reference} is "
                f"{charge['status']} (₩{charge['refunded']} refunded)"
            )
    for reference, payment in payments.items():
        if reference not in charges and payment.status == Payment.Status.APPROVED:
            problems.append(
                f"purchase {payment.purchase_id}: paid, but the gateway has no charge {reference}"
            )
    return problems
