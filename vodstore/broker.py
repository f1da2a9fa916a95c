"""Broker mode: the outbox relayed to RabbitMQ, and each app's handlers run by consumers
on any machine (`EVENT_BROKER_URL=amqp://...`; PostgreSQL only).

The topology, declared idempotently by every relay and consumer at start:

- one durable topic exchange, `<prefix>.events`; a message's routing key is its event
  type and its body the event as JSON;
- one quorum queue per consuming app, `<prefix>.<app>`, bound to the event types its
  handlers take (as the event catalogue, `vodstore/wiring.py`, subscribed them), with a
  delivery limit: a message delivered that many times without an ack (its consumer died
  on it each time) goes to the app's dead-letter queue, `<prefix>.<app>.dead`, through
  the direct exchange `<prefix>.dead`;
- a retry of one app's handlers goes to that app's queue alone (the default exchange,
  the queue's name as routing key).

The relay (`Relay`, run by `manage.py outbox_worker` in broker mode) publishes each
claimed outbox row and waits for the broker's confirm; a message the broker returns as
unroutable is not published, and stays due. Only then is the row marked published. The
consumer (`GroupConsumer`, `manage.py consume_events --group APP`) runs the app's
handlers through the outbox's per-handler delivery records (so a redelivery changes
nothing) and acks only after their transaction committed. Delivery is at least once;
the handlers are correct in any order (mileage's earn and clawback match each other,
whichever comes first).

kombu (the Celery project's messaging library) speaks AMQP; no task queue is involved."""

import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from amqp.exceptions import MessageNacked
from django.conf import settings
from django.db import close_old_connections, connections
from django.db import connection as db_connection
from django.db.models.functions import Now
from kombu import Connection, Consumer, Exchange, Producer, Queue, binding
from kombu.exceptions import OperationalError as KombuOperationalError
from kombu.message import Message
from kombu.transport.pyamqp import Transport as AmqpTransport

from vodstore import events, tracing
from vodstore.models import OutboxEvent
from vodstore.outage import is_outage

logger = logging.getLogger(__name__)

RETRY_HEADER = "x-vodstore-retry"  # a retry of one app's handlers, sent to its queue only
MIN_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS = 0.5, 30.0


# --- Topology ----------------------------------------------------------------------------


def _name(*parts: str) -> str:
    return ".".join([settings.EVENT_BROKER_PREFIX, *parts])


def events_exchange() -> Exchange:
    return Exchange(_name("events"), type="topic", durable=True)


def dead_exchange() -> Exchange:
    return Exchange(_name("dead"), type="direct", durable=True)


def group_queue(group: str, event_types: list[str]) -> Queue:
    exchange = events_exchange()
    return Queue(
        _name(group),
        exchange=exchange,
        bindings=[binding(exchange, routing_key=event_type) for event_type in event_types],
        durable=True,
        queue_arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": settings.EVENT_BROKER_DELIVERY_LIMIT,
            "x-dead-letter-exchange": _name("dead"),
            "x-dead-letter-routing-key": group,
        },
    )


def dead_letter_queue(group: str) -> Queue:
    return Queue(
        _name(group, "dead"),
        exchange=dead_exchange(),
        routing_key=group,
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )


def declare(channel) -> dict[str, list[str]]:
    """Declare the exchanges and every app's queue and dead-letter queue (idempotent: the
    same arguments again change nothing); return the apps and their event types."""
    groups = events.groups()
    events_exchange()(channel).declare()
    dead_exchange()(channel).declare()
    for group, event_types in groups.items():
        group_queue(group, event_types)(channel).declare()
        dead_letter_queue(group)(channel).declare()
    return groups


def connect(url: str | None = None, **options) -> Connection:
    return Connection(
        url or settings.EVENT_BROKER_URL,
        connect_timeout=settings.EVENT_BROKER_TIMEOUT,
        transport_options={"confirm_publish": True},
        **options,
    )


# --- Messages ----------------------------------------------------------------------------


def message_body(row: OutboxEvent) -> dict:
    return {
        "id": str(row.id),
        "type": row.type,
        "occurred_at": row.occurred_at.isoformat(),
        "payload": row.payload,
    }


class Undecodable(ValueError):
    """A message that is not an event of this store."""


def decode(body: bytes | str) -> events.Delivered:
    try:
        data = json.loads(body)
        return events.Delivered(
            id=uuid.UUID(data["id"]),
            type=str(data["type"]),
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
            payload=dict(data["payload"]),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise Undecodable(repr(exc)) from exc


# --- The relay ---------------------------------------------------------------------------


class NotPublished(Exception):
    """The broker returned the message (no queue takes it) or did not confirm it."""


class Relay:
    """Publishes claimed outbox rows and due group retries, each confirmed by the
    broker before its row is marked. Several relays may run: they claim different rows
    (`SKIP LOCKED`), and a relay that dies mid-batch leaves rows whose lease runs out,
    to be published again (a consumer absorbs the duplicate)."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url
        self.connection: Connection | None = None
        self.producer: Producer | None = None
        self._returned: set[str] = set()
        self.published = Counter()

    def _ensure(self) -> Producer:
        if self.producer is None:
            self.connection = connect(self.url)
            self.connection.ensure_connection(max_retries=1)
            channel = self.connection.channel()
            declare(channel)
            self.producer = Producer(channel, on_return=self._on_return)
        return self.producer

    def _on_return(self, exception, exchange, routing_key, message) -> None:
        self._returned.add(message.properties.get("message_id", ""))

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.release()
            except Exception:  # a connection already broken: nothing to close cleanly
                logger.debug("relay: closing a broken connection", exc_info=True)
        self.connection = self.producer = None

    def _publish(
        self, row: OutboxEvent, *, exchange: str, routing_key: str, retry: bool = False
    ) -> None:
        producer = self._ensure()
        destination = exchange or routing_key
        with tracing.producer_span(
            row.type, str(row.id), destination, parent=row.trace_context or {}
        ) as headers:
            if retry:
                headers = {**headers, RETRY_HEADER: 1}
            message_id = str(row.id)
            self._returned.discard(message_id)
            producer.publish(
                message_body(row),
                exchange=exchange,
                routing_key=routing_key,
                serializer="json",
                delivery_mode=2,  # persistent
                mandatory=True,
                message_id=message_id,
                headers=headers,
                confirm_timeout=settings.EVENT_BROKER_TIMEOUT,
            )
            if message_id in self._returned:
                self._returned.discard(message_id)
                raise NotPublished(f"no queue takes {row.type} ({routing_key})")

    def publish_due(self, *, batch: int = 100) -> tuple[int, int]:
        """Claim due outbox rows, publish each with a confirm and mark the published
        ones; return (claimed, published). A row that could not be published waits for
        its lease to run out and is tried again; a broker error drops the connection
        (reconnected at the next pass) and leaves the rest of the batch likewise."""
        ids = events.claim_due(batch=batch)
        if not ids:
            return 0, 0
        rows = OutboxEvent.objects.filter(id__in=ids, status=OutboxEvent.Status.PENDING)
        published: list[uuid.UUID] = []
        try:
            for row in rows.order_by("occurred_at"):
                try:
                    self._publish(row, exchange=_name("events"), routing_key=row.type)
                except NotPublished as exc:
                    logger.warning("relay: event %s not published: %s", row.id, exc)
                    continue
                published.append(row.id)
        except Exception:
            self.close()
            raise
        finally:
            if published:
                OutboxEvent.objects.filter(id__in=published).update(
                    status=OutboxEvent.Status.PUBLISHED, published_at=Now(), last_error=""
                )
                self.published["events"] += len(published)
        return len(ids), len(published)

    def retry_due(self, *, batch: int = 100) -> int:
        """Send each due group retry to that app's queue alone; return how many."""
        claimed = events.claim_due_retries(batch=batch)
        if not claimed:
            return 0
        rows = OutboxEvent.objects.in_bulk([event_id for event_id, _ in claimed])
        sent = 0
        try:
            for event_id, group in claimed:
                row = rows.get(event_id)
                if row is None:
                    continue
                self._publish(row, exchange="", routing_key=_name(group), retry=True)
                sent += 1
        except Exception:
            self.close()
            raise
        self.published["retries"] += sent
        return sent


# --- The consumer -----------------------------------------------------------------------


class GroupConsumer:
    """Consumes one app's queue: for each message, that app's handlers not yet done run
    (each in its transaction with its delivery record), then the message is acked.

    - a redelivered message finds its handlers done: acked, changing nothing (counted
      as `absorbed`);
    - a handler that raises: recorded for a retry of this app only, then acked;
    - the database or Redis down: the message is kept (not acked) and tried again with
      a backoff, so no message is dead-lettered for an outage;
    - a message that is not an event of this store: rejected at once, to the
      dead-letter queue; one that kills its consumer comes back until the queue's
      delivery limit sends it there;
    - the broker gone: reconnect with a backoff, and carry on.
    """

    def __init__(self, group: str, url: str | None = None, *, prefetch: int | None = None):
        if group not in events.groups():
            known = ", ".join(events.groups()) or "none"
            raise ValueError(f"no app named {group!r} consumes events (apps: {known})")
        self.group = group
        self.url = url
        self.prefetch = prefetch or settings.EVENT_BROKER_PREFETCH
        self.counts = Counter()
        self.connection: Connection | None = None
        self.on_handled: Callable[[events.Delivered], None] | None = None  # for drills/tests

    def run(
        self,
        stop: threading.Event | None = None,
        *,
        idle_seconds: float | None = None,
        max_seconds: float | None = None,
    ) -> Counter:
        """Consume until `stop` is set, or until no message came for `idle_seconds`, or
        for `max_seconds`; reconnect after any broker error."""
        stop = stop or threading.Event()
        started = time.monotonic()
        backoff = MIN_BACKOFF_SECONDS
        self._last_message = time.monotonic()
        while not stop.is_set():
            try:
                with self._consuming() as connection:
                    backoff = MIN_BACKOFF_SECONDS
                    while not stop.is_set():
                        if max_seconds is not None and time.monotonic() - started > max_seconds:
                            return self.counts
                        if (
                            idle_seconds is not None
                            and time.monotonic() - self._last_message > idle_seconds
                        ):
                            return self.counts
                        try:
                            connection.drain_events(timeout=0.5)
                        except TimeoutError:  # nothing came: keep the connection alive
                            connection.heartbeat_check()
            except Exception as exc:
                if not is_broker_error(exc):
                    raise
                self.counts["reconnects"] += 1
                logger.warning("consumer %s: %r; reconnecting in %.1f s", self.group, exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        return self.counts

    @contextmanager
    def _consuming(self) -> Iterator[Connection]:
        connection = connect(self.url, heartbeat=30)
        self.connection = connection
        try:
            connection.ensure_connection(max_retries=1)
            channel = connection.channel()
            declare(channel)
            channel.basic_qos(prefetch_size=0, prefetch_count=self.prefetch, a_global=False)
            queue = group_queue(self.group, events.groups()[self.group])
            with Consumer(channel, queues=[queue], on_message=self._on_message):
                yield connection
        finally:
            try:
                connection.release()
            except Exception:
                logger.debug("consumer %s: closing a broken connection", self.group, exc_info=True)

    def _on_message(self, message: Message) -> None:
        self._last_message = time.monotonic()
        if message.delivery_info.get("redelivered"):
            self.counts["redelivered"] += 1  # its consumer went away before the ack
        try:
            envelope = decode(message.body)
        except Undecodable as exc:
            logger.error("consumer %s: undecodable message, dead-lettered: %s", self.group, exc)
            self.counts["dead_lettered"] += 1
            message.reject(requeue=False)
            return
        headers = message.headers or {}
        with tracing.consumer_span(headers, envelope.type, str(envelope.id), self.group):
            try:
                ran, done = self._handle(envelope, retry=bool(headers.get(RETRY_HEADER)))
            except events.UnknownEvent:
                logger.error(
                    "consumer %s: event %s is not in the outbox, dead-lettered",
                    self.group,
                    envelope.id,
                )
                self.counts["dead_lettered"] += 1
                message.reject(requeue=False)
                return
        message.ack()
        self.counts["handled"] += 1
        if done and not ran:
            self.counts["absorbed"] += 1  # a redelivery: its handlers had all run
        if self.on_handled is not None:
            self.on_handled(envelope)

    def _handle(self, envelope: events.Delivered, *, retry: bool) -> tuple[int, int]:
        """The app's handlers of one event; an outage is waited out, message in hand."""
        backoff = MIN_BACKOFF_SECONDS
        while True:
            try:
                if not db_connection.in_atomic_block:  # (a test's transaction: keep it)
                    close_old_connections()  # as between requests: drop a broken one
                return events.deliver_to_group(envelope, self.group, retry=retry)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self.counts["outage_waits"] += 1
                logger.warning(
                    "consumer %s: %r; event %s kept, retrying in %.1f s",
                    self.group,
                    exc,
                    envelope.id,
                    backoff,
                )
                if not db_connection.in_atomic_block:
                    for connection in connections.all():
                        connection.close()
                deadline = time.monotonic() + backoff
                while time.monotonic() < deadline:  # keep the broker's heartbeat going
                    if self.connection is not None:
                        self.connection.heartbeat_check()
                    time.sleep(min(1.0, backoff))
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


BROKER_ERRORS = (
    OSError,
    TimeoutError,
    NotPublished,
    MessageNacked,
    KombuOperationalError,  # kombu's wrapping of a refused or broken connection
    *AmqpTransport.connection_errors,
    *AmqpTransport.channel_errors,
)


def is_broker_error(exc: BaseException) -> bool:
    """The broker is unreachable, went away, or refused an operation."""
    return isinstance(exc, BROKER_ERRORS)


# --- Dead letters ------------------------------------------------------------------------


def dead_letters(group: str, *, url: str | None = None) -> list[tuple[dict, bytes]]:
    """The messages in an app's dead-letter queue (left there): (headers, body) each."""
    found = []
    with connect(url) as connection:
        channel = connection.channel()
        declare(channel)
        queue = dead_letter_queue(group)(channel)
        while (message := queue.get(no_ack=False)) is not None:
            found.append((dict(message.headers or {}), message.body))
        channel.close()  # not acked: every message goes back to the queue
    return found


def replay_dead_letters(group: str, *, url: str | None = None) -> tuple[int, int]:
    """Send an app's dead letters that are events of this store back to its queue
    (with a fresh delivery count), and drop those that are not; return (replayed,
    dropped)."""
    replayed = dropped = 0
    with connect(url) as connection:
        channel = connection.channel()
        declare(channel)
        queue = dead_letter_queue(group)(channel)
        producer = Producer(channel)
        while (message := queue.get(no_ack=False)) is not None:
            try:
                decode(message.body)
            except Undecodable:
                message.ack()
                dropped += 1
                continue
            producer.publish(
                message.body,
                exchange="",
                routing_key=_name(group),
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                headers={k: v for k, v in (message.headers or {}).items() if k != "x-death"},
                message_id=message.properties.get("message_id"),
                confirm_timeout=settings.EVENT_BROKER_TIMEOUT,
            )
            message.ack()
            replayed += 1
    return replayed, dropped
