"""History retention: outbox events whose handling is finished are deleted, with their
delivery and retry records, once older than `OUTBOX_RETENTION_DAYS`.

Which events are finished:
- `delivered`: every handler ran (or nobody handles the type: an audit record);
- `published` (broker mode): every handler of its type, as the event catalogue has
  them now, has its delivery record, and no app's retry of it is pending or given up.
  One without them is still in a queue, in a dead-letter queue or failing: kept.
Failed and pending events are never deleted, however old: a person deals with a
failed one ("Retry now" in admin), after which it is delivered and ages out.

Deleting is done in batches of `OUTBOX_RETENTION_BATCH_SIZE` events, oldest first, each
its own short transaction (refused inside another one), so that no writer waits long:
the rows of a batch are chosen through a partial index on their age and, where the
database has it, locked with SKIP LOCKED, so that several workers pruning at once take
different batches instead of queueing behind each other. Inserts of new events take no
lock that these conflict with.

The apps' own history goes on the same schedule, each through its service: expired
Idempotency-Key answers (purchase), and gateway operations that moved no money once
older than `PAYMENT_OPERATION_RETENTION_DAYS` (payment: failed authorizations, holds
released and voided; a purchase's operations stay)."""

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from payment import services as payment_services
from purchase import services as purchase_services
from vodstore import events
from vodstore.models import EventDelivery, GroupRetry, OutboxEvent

Status = OutboxEvent.Status


@dataclass(frozen=True)
class Batch:
    """One transaction's worth of deletions."""

    kind: str  # "delivered" or "published"
    events: int
    deliveries: int
    retries: int
    seconds: float


@dataclass
class Pruned:
    """What a run deleted, and whether it got through everything that was due."""

    events: Counter = field(default_factory=Counter)  # by kind: delivered, published
    deliveries: int = 0
    retries: int = 0
    batches: int = 0
    seconds: float = 0.0
    finished: bool = True  # False: the time allowed ran out with more to delete
    idempotency_keys: int | None = None  # None: not purged in this run
    payment_operations: int | None = None  # None: not pruned in this run
    days: int = 0

    def add(self, batch: Batch) -> None:
        self.events[batch.kind] += batch.events
        self.deliveries += batch.deliveries
        self.retries += batch.retries
        self.batches += 1

    @property
    def anything(self) -> bool:
        return bool(self.batches or self.idempotency_keys or self.payment_operations)

    def summary(self) -> str:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.events.items()) if n)
        line = (
            f"deleted {self.events.total()} outbox event(s) older than {self.days} days"
            f"{f' ({kinds})' if kinds else ''}, with {self.deliveries} delivery and "
            f"{self.retries} retry record(s), in {self.batches} batch(es), {self.seconds:.2f} s"
        )
        if not self.finished:
            line += "; more left for the next run"
        if self.idempotency_keys is not None:
            line += f"; deleted {self.idempotency_keys} expired idempotency key(s)"
        if self.payment_operations is not None:
            line += f"; deleted {self.payment_operations} gateway operation(s) that moved no money"
        return line


def _days(days: int | None) -> int:
    return settings.OUTBOX_RETENTION_DAYS if days is None else days


def _handled_types() -> list[str]:
    """Every event type some handler takes, as the event catalogue subscribed them."""
    return sorted({t for types in events.groups().values() for t in types})


def finished_events(*, days: int | None = None) -> Iterator[tuple[str, QuerySet]]:
    """The events retention deletes, as (kind, queryset ordered oldest first): one
    selection of delivered events, and one of published events per event type (each
    type has its own handlers to have run)."""
    cutoff = timezone.now() - timedelta(days=_days(days))
    # An app's retry still pending or given up: its handlers have not succeeded.
    unfinished_retry = Exists(
        GroupRetry.objects.filter(event=OuterRef("pk")).exclude(status=GroupRetry.Status.DONE)
    )
    delivered = OutboxEvent.objects.filter(status=Status.DELIVERED, delivered_at__lt=cutoff)
    yield "delivered", delivered.exclude(unfinished_retry).order_by("delivered_at")
    for event_type in _handled_types():
        published = OutboxEvent.objects.filter(
            status=Status.PUBLISHED, type=event_type, published_at__lt=cutoff
        ).exclude(unfinished_retry)
        for handler in events.handlers_for(event_type):
            ran = EventDelivery.objects.filter(
                event=OuterRef("pk"), handler=events.handler_name(handler)
            )
            published = published.filter(Exists(ran))
        yield "published", published.order_by("published_at")


def _delete_batch(kind: str, selection: QuerySet, batch_size: int) -> Batch:
    """Delete up to `batch_size` events of `selection` with their records, in one short
    transaction of its own."""
    started = time.monotonic()
    nothing = Batch(kind, 0, 0, 0, 0.0)
    if connection.features.has_select_for_update_skip_locked:
        chosen = selection.select_for_update(skip_locked=True)
    else:
        # SQLite has one write lock, taken when the transaction begins: the batch is
        # chosen before, and only those of it still finished are deleted inside.
        ids = list(selection.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return nothing
        chosen = selection.filter(pk__in=ids)
    # durable: a caller's transaction around the batches would hold every lock to its end
    with transaction.atomic(durable=True):
        ids = list(chosen.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return nothing
        # only("pk"): the cascade needs the ids, not the payloads
        _, deleted = OutboxEvent.objects.filter(pk__in=ids).only("pk").delete()
    return Batch(
        kind,
        events=deleted.get(OutboxEvent._meta.label, 0),
        deliveries=deleted.get(EventDelivery._meta.label, 0),
        retries=deleted.get(GroupRetry._meta.label, 0),
        seconds=time.monotonic() - started,
    )


def outbox_prune(
    *,
    days: int | None = None,
    batch_size: int | None = None,
    deadline: float | None = None,
    on_batch: Callable[[Batch], None] | None = None,
) -> Pruned:
    """Delete the finished events older than `days` (`OUTBOX_RETENTION_DAYS`) with their
    delivery and retry records, oldest first, `batch_size` events per transaction.

    `deadline` (a `time.monotonic()` value): stop after the batch that passes it, with
    `finished` False; at least one batch is always made. `on_batch` is called after each
    batch has committed."""
    batch_size = batch_size or settings.OUTBOX_RETENTION_BATCH_SIZE
    result = Pruned(days=_days(days))
    started = time.monotonic()
    for kind, selection in finished_events(days=days):
        while True:
            if result.batches and deadline is not None and time.monotonic() >= deadline:
                result.finished = False
                result.seconds = time.monotonic() - started
                return result
            batch = _delete_batch(kind, selection, batch_size)
            if not batch.events:
                break
            result.add(batch)
            if on_batch is not None:
                on_batch(batch)
            if batch.events < batch_size:
                break  # this selection is done (or its remaining rows are another's)
    result.seconds = time.monotonic() - started
    return result


def outbox_prunable(*, days: int | None = None) -> dict[str, int]:
    """What `outbox_prune` would delete now, counted (for a dry run), and the failed and
    pending events it keeps whatever their age."""
    counts: Counter = Counter()
    for kind, selection in finished_events(days=days):
        ids = selection.order_by().values("pk")
        counts[f"{kind} events"] += selection.count()
        counts["delivery records"] += EventDelivery.objects.filter(event__in=ids).count()
        counts["retry records"] += GroupRetry.objects.filter(event__in=ids).count()
    kept = OutboxEvent.objects.filter(status__in=[Status.FAILED, Status.PENDING])
    for status in (Status.FAILED, Status.PENDING):
        counts[f"kept: {status} events"] = kept.filter(status=status).count()
    return dict(counts)


def history_prune(
    *,
    days: int | None = None,
    batch_size: int | None = None,
    deadline: float | None = None,
    idempotency_keys: bool = True,
    on_batch: Callable[[Batch], None] | None = None,
) -> Pruned:
    """Everything retention deletes: expired idempotency keys and the gateway
    operations that moved no money past `PAYMENT_OPERATION_RETENTION_DAYS` (each app's
    own, by its service; unless told not to: the worker does them once a period), then
    the finished outbox events (see `outbox_prune`)."""
    purged = operations = None
    if idempotency_keys:
        purged = purchase_services.idempotency_keys_purge()
        operations = payment_services.operations_prune(
            batch_size=batch_size or settings.OUTBOX_RETENTION_BATCH_SIZE
        )
    result = outbox_prune(days=days, batch_size=batch_size, deadline=deadline, on_batch=on_batch)
    result.idempotency_keys = purged
    result.payment_operations = operations
    return result
