"""The in-process event bus: a transactional outbox dispatched over blinker signals.

Publishing writes the event into the outbox inside the caller's transaction; right
after that transaction commits, the event is handed to its handlers. A handler that
raises is logged and retried later by `manage.py outbox_worker`; the others still
run, and the caller never sees the error. Each handler's success is recorded per
event, so a retry runs only the handlers that have not succeeded yet. An event whose
publishing process died before dispatch is picked up by the worker after a grace
period. Handlers receive a `Delivered` envelope of plain values, so a consumer needs
only the producer's event name and payload keys, never its modules.

Who subscribes to what is not decided here: the event catalogue (`vodstore/wiring.py`)
subscribes every handler and declares what becomes of an event nobody handles.
"""

import dataclasses
import enum
import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from blinker import Namespace
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Now
from django.utils import timezone

from vodstore import tracing
from vodstore.errors import DomainError
from vodstore.models import EventDelivery, GroupRetry, OutboxEvent
from vodstore.outage import is_outage

logger = logging.getLogger(__name__)

_signals = Namespace()
_options: dict[Callable, bool] = {}  # handler -> run it inside a transaction?
_deferred: set[Callable] = set()  # handlers the request's own dispatch leaves to the worker
_unsubscribed: dict[str, "Unsubscribed"] = {}  # event type -> what to do when nobody handles it

Handler = Callable[["Delivered"], None]


class Unsubscribed(enum.Enum):
    """What `publish` does with an event type that has no handler, as the event catalogue
    declares it per event. An event type with neither a handler nor a policy is refused
    at start-up (by the catalogue) and by `publish`."""

    AUDIT_ONLY = "stored as delivered"  # a record of the fact; nothing to send


class UndeclaredEvent(RuntimeError):
    """An event type nobody handles and the catalogue declares no policy for."""


@dataclasses.dataclass(frozen=True)
class Event:
    """Base of every event: a past-tense fact made of plain ids and values.

    Subclasses are frozen dataclasses owned by the app that publishes them; the class
    name is the event's type."""

    type: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.type = cls.__name__


@dataclasses.dataclass(frozen=True)
class Delivered:
    """An event as a handler receives it."""

    id: uuid.UUID
    type: str
    occurred_at: datetime
    payload: dict[str, Any]


def _now() -> datetime:
    return timezone.now()


def handler_name(handler: Callable) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"


def subscribe(
    event_type: str, handler: Handler, *, atomic: bool = True, deferred: bool = False
) -> None:
    """Connect a module-level handler to an event type (the event catalogue does, once,
    at start-up).

    With `atomic` (the default) the handler's writes and the record of its success
    commit together, so it takes effect exactly once. A handler that calls the
    outside world (a gateway) passes `atomic=False`, opens its own short transactions
    and must be idempotent by itself.

    `deferred`: the dispatch that follows the request's commit skips it, so the
    request never waits on it (a mail server); the worker delivers it once the event's
    grace period has passed (`EVENTS_DISPATCH_GRACE_SECONDS`). In broker mode every
    handler runs in a consumer anyway."""
    # weak=False: blinker would otherwise drop a receiver nobody else references.
    _signals.signal(event_type).connect(handler, weak=False)
    _options[handler] = atomic
    if deferred:
        _deferred.add(handler)
    else:
        _deferred.discard(handler)


def declare_unsubscribed(event_type: str, policy: Unsubscribed) -> None:
    """Declare what becomes of `event_type` while it has no handler (the catalogue does)."""
    _unsubscribed[event_type] = policy


def unsubscribed_policy(event_type: str) -> Unsubscribed | None:
    return _unsubscribed.get(event_type)


def is_atomic(handler: Callable) -> bool:
    """Does the handler run inside the transaction that records its success?"""
    return _options.get(handler, True)


def is_deferred(handler: Callable) -> bool:
    """Does the request's own dispatch leave the handler to the worker?"""
    return handler in _deferred


def handlers_for(event_type: str) -> list[Handler]:
    """The handlers of an event type, in a fixed order (blinker promises none)."""
    return sorted(_signals.signal(event_type).receivers_for(None), key=handler_name)


def group_of(handler: Callable) -> str:
    """The app a handler belongs to (`mileage.handlers.earn...` → "mileage"): in broker
    mode each app consumes from a queue of its own."""
    return handler.__module__.split(".", 1)[0]


def groups() -> dict[str, list[str]]:
    """Each consuming app, with the event types its handlers take, sorted."""
    found: dict[str, set[str]] = {}
    for event_type, signal in _signals.items():
        for handler in signal.receivers_for(None):
            found.setdefault(group_of(handler), set()).add(event_type)
    return {group: sorted(types) for group, types in sorted(found.items())}


def broker_mode() -> bool:
    """Events travel through the broker (`EVENT_BROKER_URL`), not in-process."""
    return bool(settings.EVENT_BROKER_URL)


def db_now():
    """The time to compare leases and due times with. In broker mode, the database's
    clock: relays and consumers on several machines agree on it (and publishing stamps
    rows with it). Otherwise this process's, as every due time was written with it."""
    return Now() if broker_mode() and connection.vendor == "postgresql" else _now()


def publish(event: Event) -> uuid.UUID:
    """Store `event` in the outbox of the current transaction; dispatch it after commit.

    Must be called inside the transaction that makes the change the event reports,
    so that a rollback takes the event with it. An event nobody handles is dealt with
    as the catalogue declares (`Unsubscribed`); without a declaration, `UndeclaredEvent`."""
    if not connection.in_atomic_block:
        raise RuntimeError(f"publish({event.type}) outside a transaction")
    now = _now()
    if not handlers_for(event.type):
        if unsubscribed_policy(event.type) is not Unsubscribed.AUDIT_ONLY:
            raise UndeclaredEvent(
                f"{event.type} has no handler and no policy for that: declare it in the "
                "event catalogue (vodstore/wiring.py)"
            )
        # Audit only: a record of the fact, stored as delivered; nothing to send.
        return OutboxEvent.objects.create(
            type=event.type,
            payload=dataclasses.asdict(event),
            occurred_at=now,
            next_attempt_at=now,
            status=OutboxEvent.Status.DELIVERED,
            delivered_at=now,
        ).id
    if broker_mode():
        # Only the row: the relay publishes it to the broker after the commit, so the
        # broker's health never touches the request. Due at once, by the database's
        # clock, which the relays compare with.
        return OutboxEvent.objects.create(
            type=event.type,
            payload=dataclasses.asdict(event),
            occurred_at=now,
            next_attempt_at=db_now(),
            trace_context=tracing.carrier(),  # the relay and consumers continue the trace
        ).id
    row = OutboxEvent.objects.create(
        type=event.type,
        payload=dataclasses.asdict(event),
        occurred_at=now,
        next_attempt_at=now + timedelta(seconds=settings.EVENTS_DISPATCH_GRACE_SECONDS),
        trace_context=tracing.carrier(),
    )

    # A plain function, not functools.partial: Django 5.2 crashes while logging a
    # failing partial (ticket #36487) and the error would escape after the commit.
    # robust, and the function catches everything itself: a failing dispatch must
    # neither stop other callbacks nor reach the caller, whose change has committed.
    def dispatch_after_commit() -> None:
        _dispatch_fresh(row)

    transaction.on_commit(dispatch_after_commit, robust=True)
    return row.id


def _dispatch_fresh(row: OutboxEvent) -> None:
    """Deliver a freshly committed event; any failure is left to the worker, which
    takes the event after its grace period."""
    try:
        _deliver(row, already_done=set(), in_request=True)
    except Exception as exc:
        if is_outage(exc):
            logger.warning("event %s (%s): %r; the worker will retry", row.id, row.type, exc)
        else:
            logger.exception("event %s (%s): dispatch failed; the worker retries", row.id, row.type)


def dispatch(event_ids: Iterable[uuid.UUID]) -> int:
    """Deliver the given pending events now; return how many were fully delivered."""
    rows = OutboxEvent.objects.filter(
        id__in=list(event_ids), status=OutboxEvent.Status.PENDING
    ).prefetch_related("deliveries")
    return sum(_deliver(row, {d.handler for d in row.deliveries.all()}) for row in rows)


def _deliver(row: OutboxEvent, already_done: set[str], *, in_request: bool = False) -> bool:
    """Run every handler of `row` that has not succeeded yet; record the outcome.

    `in_request`: the dispatch right after the request's commit, which leaves the
    deferred handlers (and so the event, still pending) to the worker."""
    envelope = Delivered(row.id, row.type, row.occurred_at, row.payload)
    pending = [h for h in handlers_for(row.type) if handler_name(h) not in already_done]
    left = [h for h in pending if is_deferred(h)] if in_request else []
    pending = [h for h in pending if h not in left]
    if left and not pending:
        return False  # nothing to run now: the worker takes the event after its grace
    errors: list[str] = []
    recorded = False
    for position, handler in enumerate(pending):
        name = handler_name(handler)
        # The last handler of a clean run marks the event delivered in the same
        # transaction as its own success: one write transaction fewer per event,
        # which counts where SQLite serializes every writer.
        last = position == len(pending) - 1 and not errors and not left
        try:
            if is_atomic(handler):
                with transaction.atomic():
                    handler(envelope)
                    _record_success(row, name, mark_delivered=last)
            else:
                handler(envelope)
                with transaction.atomic():
                    _record_success(row, name, mark_delivered=last)
            recorded = last
        except IntegrityError as exc:
            if not EventDelivery.objects.filter(event_id=row.id, handler=name).exists():
                logger.exception("event %s (%s): handler %s failed", row.id, row.type, name)
                errors.append(f"{name}: {exc!r}")
            # else another process recorded this handler's success first: its work
            # stands, and (atomic) ours was rolled back with the duplicate record.
        except Exception as exc:
            _log_failure(row, name, exc)
            errors.append(f"{name}: {exc!r}")
    if not recorded and (errors or not left):
        _record_outcome(row, errors)
    return not errors and not left


class UnknownEvent(LookupError):
    """A message names an event that is not in the outbox: forged or from elsewhere."""


def deliver_to_group(envelope: Delivered, group: str, *, retry: bool = False) -> tuple[int, int]:
    """Broker mode: run `group`'s handlers of an event that have not succeeded yet, as a
    consumer of that app's queue does; return (handlers run, handlers already done).

    The per-handler delivery records are the inbox: a redelivered message finds its
    handlers done and changes nothing. A handler that raises is retried for this app
    only, after a backoff (`GroupRetry`, republished by the relay). An outage (the
    database or Redis down) is raised to the caller, which keeps the message and tries
    again: recording it as a failure needs the database too. `UnknownEvent` for an id
    the outbox does not hold."""
    handlers = [h for h in handlers_for(envelope.type) if group_of(h) == group]
    names = [handler_name(h) for h in handlers]
    known = OutboxEvent.objects.filter(pk=envelope.id).values_list("id", flat=True)
    done = set(
        EventDelivery.objects.filter(event_id__in=known, handler__in=names).values_list(
            "handler", flat=True
        )
    )
    if not done and not known.exists():
        raise UnknownEvent(envelope.id)
    errors: list[str] = []
    ran = 0
    for handler, name in zip(handlers, names, strict=True):
        if name in done:
            continue
        try:
            if is_atomic(handler):
                with transaction.atomic():
                    handler(envelope)
                    EventDelivery.objects.create(event_id=envelope.id, handler=name)
            else:
                handler(envelope)
                EventDelivery.objects.create(event_id=envelope.id, handler=name)
            ran += 1
        except IntegrityError as exc:
            if not EventDelivery.objects.filter(event_id=envelope.id, handler=name).exists():
                logger.exception(
                    "event %s (%s): handler %s failed", envelope.id, envelope.type, name
                )
                errors.append(f"{name}: {exc!r}")
            # else a redelivery to another consumer recorded it first: ours rolled back
        except Exception as exc:
            if is_outage(exc):
                raise
            _log_failure(envelope, name, exc)
            errors.append(f"{name}: {exc!r}")
    if errors:
        _record_group_failure(envelope, group, errors)
    elif retry:
        GroupRetry.objects.filter(event_id=envelope.id, group=group).exclude(
            status=GroupRetry.Status.DONE
        ).update(status=GroupRetry.Status.DONE, last_error="")
    return ran, len(done)


def _backoff_seconds(attempts: int) -> float:
    return min(
        settings.EVENTS_RETRY_BASE_SECONDS * 2 ** (attempts - 1), settings.EVENTS_RETRY_MAX_SECONDS
    )


def _record_group_failure(envelope: Delivered, group: str, errors: list[str]) -> None:
    with transaction.atomic():
        retry, _ = GroupRetry.objects.select_for_update().get_or_create(
            event_id=envelope.id, group=group, defaults={"next_attempt_at": db_now()}
        )
        attempts = retry.attempts + 1
        gave_up = attempts >= settings.EVENTS_MAX_ATTEMPTS
        GroupRetry.objects.filter(pk=retry.pk).update(
            attempts=attempts,
            last_error="\n".join(errors)[:4000],
            next_attempt_at=db_now() + timedelta(seconds=_backoff_seconds(attempts)),
            status=GroupRetry.Status.FAILED if gave_up else GroupRetry.Status.PENDING,
        )
    if gave_up:
        logger.error(
            "event %s (%s): %s gave up after %d attempts",
            envelope.id,
            envelope.type,
            group,
            attempts,
        )


def claim_due_retries(*, batch: int = 100) -> list[tuple[uuid.UUID, str]]:
    """Broker mode: take a lease on up to `batch` group retries whose time has come, as
    `claim_due` does for the outbox; return their (event id, group)."""
    rows = _lease_due(GroupRetry, ("id", "event_id", "group"), batch=batch, now=db_now())
    return [(event_id, group) for _, event_id, group in rows]


def _log_failure(row: OutboxEvent | Delivered, name: str, exc: Exception) -> None:
    """A handler told to come back later (the gateway is busy, a service is down) is
    an expected retry: one line. Anything else is a bug: the whole traceback."""
    if (isinstance(exc, DomainError) and exc.status_code == 503) or is_outage(exc):
        logger.warning("event %s (%s): handler %s will be retried: %s", row.id, row.type, name, exc)
    else:
        logger.exception("event %s (%s): handler %s failed", row.id, row.type, name)


def _record_success(row: OutboxEvent, name: str, *, mark_delivered: bool) -> None:
    EventDelivery.objects.create(event_id=row.id, handler=name)
    if mark_delivered:
        OutboxEvent.objects.filter(pk=row.pk).update(
            status=OutboxEvent.Status.DELIVERED, delivered_at=_now(), last_error=""
        )


def _record_outcome(row: OutboxEvent, errors: list[str]) -> None:
    now = _now()
    if not errors:
        OutboxEvent.objects.filter(pk=row.pk).update(
            status=OutboxEvent.Status.DELIVERED, delivered_at=now, last_error=""
        )
        return
    attempts = row.attempts + 1
    gave_up = attempts >= settings.EVENTS_MAX_ATTEMPTS
    backoff = min(
        settings.EVENTS_RETRY_BASE_SECONDS * 2 ** (attempts - 1), settings.EVENTS_RETRY_MAX_SECONDS
    )
    OutboxEvent.objects.filter(pk=row.pk).update(
        attempts=attempts,
        last_error="\n".join(errors)[:4000],
        next_attempt_at=now + timedelta(seconds=backoff),
        status=OutboxEvent.Status.FAILED if gave_up else OutboxEvent.Status.PENDING,
    )
    if gave_up:
        logger.error("event %s (%s): gave up after %d attempts", row.id, row.type, attempts)


def claim_due(*, batch: int = 100, now: datetime | None = None) -> list[uuid.UUID]:
    """Take a lease on up to `batch` pending events whose time has come.

    On PostgreSQL the rows are locked with SKIP LOCKED, so concurrent workers take
    different events; SQLite serializes the claiming transactions instead. The lease
    (moving `next_attempt_at` ahead) keeps other workers off while this one delivers;
    if the worker dies, the lease runs out and someone else takes the events."""
    rows = _lease_due(OutboxEvent, ("id",), batch=batch, now=now or db_now())
    return [row[0] for row in rows]


def _lease_due(model, fields: tuple[str, ...], *, batch: int, now) -> list[tuple]:
    """Up to `batch` pending rows of `model` whose `next_attempt_at` has come, locked
    with SKIP LOCKED where the database has it, their lease taken in the same
    transaction; their `fields` (the first is the primary key)."""
    with transaction.atomic():
        due = model.objects.filter(status="pending", next_attempt_at__lte=now).order_by(
            "next_attempt_at"
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        rows = list(due.values_list(*fields)[:batch])
        model.objects.filter(pk__in=[row[0] for row in rows]).update(
            next_attempt_at=now + timedelta(seconds=settings.EVENTS_LEASE_SECONDS)
        )
    return rows


def run_worker_pass(*, batch: int = 100, now: datetime | None = None) -> tuple[int, int]:
    """Claim and deliver due events once; return (claimed, fully delivered)."""
    ids = claim_due(batch=batch, now=now)
    return len(ids), dispatch(ids) if ids else 0


def retry_now(event_ids: Iterable[uuid.UUID]) -> int:
    """Put pending or given-up events back in line and deliver them at once (in broker
    mode: the relay publishes them, and sends the apps whose handlers failed the event
    again, at its next pass); return how many were delivered or put back in line."""
    ids = list(event_ids)
    undone = OutboxEvent.objects.filter(id__in=ids).exclude(
        status__in=[OutboxEvent.Status.DELIVERED, OutboxEvent.Status.PUBLISHED]
    )
    if not broker_mode():
        undone.update(status=OutboxEvent.Status.PENDING, next_attempt_at=_now())
        return dispatch(ids)
    with transaction.atomic():
        requeued = undone.update(status=OutboxEvent.Status.PENDING, next_attempt_at=db_now())
        regrouped = GroupRetry.objects.filter(event_id__in=ids).exclude(
            status=GroupRetry.Status.DONE
        )
        requeued += regrouped.update(status=GroupRetry.Status.PENDING, next_attempt_at=db_now())
    return requeued
