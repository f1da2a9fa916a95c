"""Writes to mileage: earn, spend, reverse. Every change is a ledger entry plus the
same delta on the stored balance, in one transaction; the cached balance is forgotten
when it commits."""

import uuid

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from mileage.events import MileageChanged
from mileage.exceptions import InsufficientMileage
from mileage.models import MileageAccount, MileageEntry
from mileage.selectors import mileage_balance, mileage_balance_forget
from vodstore.events import publish
from vodstore.vocabulary import PaymentMethod

Reason = MileageEntry.Reason

# What reverses what: a card purchase loses the points it earned, a free one gets its
# points back.
_REVERSAL = {Reason.EARNED: Reason.CLAWED_BACK, Reason.SPENT: Reason.REFUNDED}


def _post(*, user_id: int, delta: int, reason: str, purchase_id: int, event_id: uuid.UUID) -> None:
    entry = MileageEntry.objects.create(
        account_id=user_id, delta=delta, reason=reason, purchase_id=purchase_id, event_id=event_id
    )
    publish(
        MileageChanged(
            user_id=user_id,
            entry_id=entry.id,
            delta=delta,
            reason=reason,
            purchase_id=purchase_id,
        )
    )
    # The header's cached balance goes once the change commits: until then every reader
    # still sees the old balance in the database, and after a rollback nothing changed.
    # (A function, not a functools.partial: robust=True cannot log a failing partial.)
    transaction.on_commit(lambda: mileage_balance_forget(user_id=user_id), robust=True)


# One statement whether or not the user has an account yet (the first earn creates it),
# atomic against a concurrent creator. Raw SQL: the ORM's upsert (bulk_create with
# update_conflicts) can only overwrite a column, not add to it. PostgreSQL and SQLite
# (3.24+) share this syntax.
_CREDIT_SQL = """
    INSERT INTO {table} (user_id, balance, updated_at) VALUES (%s, %s, %s)
    ON CONFLICT (user_id) DO UPDATE
    SET balance = {table}.balance + excluded.balance, updated_at = excluded.updated_at
"""


def _credit(*, user_id: int, delta: int, reason: str, purchase_id: int, event_id: uuid.UUID):
    table = connection.ops.quote_name(MileageAccount._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_CREDIT_SQL.format(table=table), [user_id, delta, now])
    _post(user_id=user_id, delta=delta, reason=reason, purchase_id=purchase_id, event_id=event_id)


@transaction.atomic(savepoint=False)
def mileage_spend(*, user_id: int, purchase_id: int, event_id: uuid.UUID) -> int:
    """Take the free-film cost from the balance, or raise `InsufficientMileage`.

    A conditional UPDATE (balance >= cost) decides, so concurrent spends can never
    take the balance below zero. Runs inside the caller's purchase transaction."""
    cost = settings.MILEAGE_FREE_VOD_COST
    spent = MileageAccount.objects.filter(user_id=user_id, balance__gte=cost).update(
        balance=F("balance") - cost
    )
    if not spent:
        raise InsufficientMileage(
            f"A free film costs {cost:,} points.",
            required=cost,
            balance=mileage_balance(user_id=user_id),
        )
    _post(
        user_id=user_id,
        delta=-cost,
        reason=Reason.SPENT,
        purchase_id=purchase_id,
        event_id=event_id,
    )
    return cost


@transaction.atomic(savepoint=False)
def mileage_earn(*, user_id: int, purchase_id: int, event_id: uuid.UUID) -> bool:
    """Credit the points a paid purchase earns; False when already credited.

    If the purchase was already reversed (the cancel overtook a delayed earn), the
    earn matches the clawback so that the two still cancel out."""
    entries = dict(
        MileageEntry.objects.filter(purchase_id=purchase_id)
        .order_by()
        .values_list("reason", "delta")
    )
    if Reason.EARNED in entries:
        return False
    delta = -entries.get(Reason.CLAWED_BACK, -settings.MILEAGE_EARN_PER_PURCHASE)
    _credit(
        user_id=user_id,
        delta=delta,
        reason=Reason.EARNED,
        purchase_id=purchase_id,
        event_id=event_id,
    )
    return True


@transaction.atomic(savepoint=False)
def mileage_reverse(*, user_id: int, purchase_id: int, method: str, event_id: uuid.UUID) -> bool:
    """Undo a cancelled purchase's points; False when already undone or nothing to undo.

    Card: the earned points are clawed back, which alone may take the balance below
    zero. Mileage: the spent points are refunded."""
    original = Reason.SPENT if method == PaymentMethod.MILEAGE else Reason.EARNED
    reversal = _REVERSAL[original]
    entries = dict(
        MileageEntry.objects.filter(purchase_id=purchase_id)
        .order_by()
        .values_list("reason", "delta")
    )
    if reversal in entries:
        return False
    if original in entries:
        delta = -entries[original]
    elif original == Reason.EARNED:
        # The earn has not arrived yet (its handler is being retried): claw back now,
        # and the late earn will match this entry.
        delta = -settings.MILEAGE_EARN_PER_PURCHASE
    else:
        return False  # a mileage purchase always spends in its own transaction
    _credit(
        user_id=user_id, delta=delta, reason=reversal, purchase_id=purchase_id, event_id=event_id
    )
    return True
