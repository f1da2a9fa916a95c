"""Broker mode against the real RabbitMQ (127.0.0.1:5672, or TEST_BROKER_URL): the
relay publishes the outbox with confirms, each app's consumer runs its handlers through
the delivery records, retries go to the failing app alone, poison ends in the
dead-letter queue, a broker restart loses nothing confirmed, and relay and consumers
run as real processes on PostgreSQL.

Each test declares its exchanges and queues under a name prefix of its own and deletes
them afterwards. Where no broker answers the tests skip, saying so; under CI=true that
is a failure. The relay and consumers mostly run in the test's own thread, so that they
see the test's transaction; the last test runs them as processes."""

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection
from kombu import Connection, Producer

from mileage.models import MileageAccount, MileageEntry
from purchase.models import Purchase
from scripts.rabbit import PrivateRabbit, RabbitUnavailable
from tests.conftest import assert_books_balance, make_user, make_vod
from vodstore import broker, events
from vodstore.models import EventDelivery, GroupRetry, OutboxEvent

BROKER_URL = os.environ.get("TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
ROOT = Path(__file__).resolve().parent.parent
DELIVERY_LIMIT = 3


def require_broker() -> None:
    try:
        with Connection(BROKER_URL, connect_timeout=2) as probe:
            probe.ensure_connection(max_retries=1)
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"RabbitMQ at {BROKER_URL} is unreachable ({exc!r}), and CI must run this")
        pytest.skip(f"RabbitMQ at {BROKER_URL} is unreachable ({exc!r})")


def delete_topology(url: str, prefix: str) -> None:
    with Connection(url, connect_timeout=5) as conn:
        channel = conn.channel()
        for group, types in events.groups().items():
            broker.group_queue(group, types)(channel).delete()
            broker.dead_letter_queue(group)(channel).delete()
        broker.events_exchange()(channel).delete()
        broker.dead_exchange()(channel).delete()


@pytest.fixture
def broker_mode(settings):
    """Broker mode on the real RabbitMQ, under a prefix of this test's own (yielded)."""
    require_broker()
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    settings.EVENT_BROKER_URL = BROKER_URL
    settings.EVENT_BROKER_PREFIX = prefix
    settings.EVENT_BROKER_DELIVERY_LIMIT = DELIVERY_LIMIT
    yield prefix
    delete_topology(BROKER_URL, prefix)


def relay_all() -> tuple[int, int]:
    """What the outbox worker does in broker mode, until nothing is due."""
    relay = broker.Relay()
    published = retried = 0
    try:
        while True:
            _, done = relay.publish_due()
            sent = relay.retry_due()
            published, retried = published + done, retried + sent
            if not done and not sent:
                return published, retried
    finally:
        relay.close()


def consume(group: str, idle: float = 0.8) -> Counter:
    return broker.GroupConsumer(group).run(idle_seconds=idle, max_seconds=30)


def queue_depth(group: str, dead: bool = False) -> int:
    with broker.connect() as conn:
        channel = conn.channel()
        queue = broker.dead_letter_queue(group) if dead else broker.group_queue(group, [])
        _, count, _ = queue(channel).queue_declare(passive=True)
        return count


def buy(client, committed, vod_id, method="card"):
    with committed():
        response = client.post("/api/purchases/", {"vod": vod_id, "payment_method": method})
    assert response.status_code == 201, response.content
    return response.json()


def points(user) -> int:
    return MileageAccount.objects.filter(user_id=user.id).values_list("balance", flat=True).first()


# --- The web tier never waits on the broker ----------------------------------------------


def test_in_broker_mode_a_purchase_only_writes_the_outbox(
    user_client, user, vod, committed, settings
):
    """No broker at all (a closed port): the purchase still answers 201 at once; its
    events wait in the outbox, none is handled in-process."""
    settings.EVENT_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"
    started = time.monotonic()
    buy(user_client, committed, vod.id)
    assert time.monotonic() - started < 2
    pending = OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING)
    assert set(pending.values_list("type", flat=True)) == {"PaymentApproved", "VodPurchased"}
    assert not EventDelivery.objects.exists()
    assert not MileageEntry.objects.filter(reason="earned").exists()


def test_broker_mode_on_sqlite_is_refused_with_a_clear_message():
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(EVENT_BROKER_URL="amqp://guest:guest@127.0.0.1:5672//", DEBUG="true")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "Broker mode (EVENT_BROKER_URL) needs PostgreSQL" in result.stderr


# --- Relay and consumers -----------------------------------------------------------------


def test_relayed_events_reach_each_apps_consumer_once(
    broker_mode, user_client, user, vod, committed
):
    bought = buy(user_client, committed, vod.id)
    assert relay_all() == (2, 0)  # PaymentApproved, and VodPurchased for the receipt
    row = OutboxEvent.objects.get(type="PaymentApproved")
    assert row.status == OutboxEvent.Status.PUBLISHED and row.published_at is not None
    assert points(user) in (None, 0)  # nothing happens until a consumer takes it
    counts = consume("mileage")
    assert counts["handled"] == 1 and points(user) == 1000
    assert consume("purchase")["handled"] == 1  # the receipt (none: no address)
    with committed():
        assert user_client.post(f"/api/purchases/{bought['id']}/cancel/").status_code == 200
    relay_all()
    assert consume("payment")["handled"] == 1  # the refund, which publishes PaymentCancelled
    assert relay_all() == (1, 0)
    assert consume("mileage")["handled"] == 1
    assert points(user) == 0
    assert queue_depth("mileage") == queue_depth("payment") == queue_depth("purchase") == 0
    assert_books_balance()


def test_a_redelivered_message_changes_nothing(broker_mode, user_client, user, vod, committed):
    buy(user_client, committed, vod.id)
    relay_all()
    row = OutboxEvent.objects.get(type="PaymentApproved")
    relay = broker.Relay()
    relay._publish(row, exchange=broker._name("events"), routing_key=row.type)  # again
    relay.close()
    counts = consume("mileage")
    assert counts["handled"] == 2 and counts["absorbed"] == 1
    assert MileageEntry.objects.filter(reason="earned").count() == 1
    assert points(user) == 1000


def test_a_failing_handler_is_retried_for_its_app_only(
    broker_mode, user_client, user, vod, committed, monkeypatch
):
    from mileage import services

    real_earn = services.mileage_earn

    def broken(**kwargs):
        raise RuntimeError("mileage is broken today")

    monkeypatch.setattr(services, "mileage_earn", broken)
    buy(user_client, committed, vod.id)
    relay_all()
    assert consume("mileage")["handled"] == 1  # acked: the retry is the store's own
    retry = GroupRetry.objects.get()
    assert (retry.group, retry.status, retry.attempts) == ("mileage", "pending", 1)
    assert "mileage is broken today" in retry.last_error
    assert points(user) in (None, 0)

    monkeypatch.setattr(services, "mileage_earn", real_earn)
    assert relay_all() == (0, 0)  # not due yet: the backoff holds
    GroupRetry.objects.update(status="failed")  # as if it had run out of attempts
    assert events.retry_now([retry.event_id]) == 1  # admin's "Retry now"
    assert GroupRetry.objects.get().status == "pending"
    assert relay_all() == (0, 1)
    assert queue_depth("payment") == 0  # the retry went to mileage's queue alone
    assert consume("mileage")["handled"] == 1
    assert points(user) == 1000
    assert GroupRetry.objects.get().status == "done"


def test_a_database_outage_keeps_the_message_in_hand_not_dead_lettered(
    broker_mode, user_client, user, vod, committed, monkeypatch
):
    """The database down while a consumer holds a message: it waits with a backoff,
    message unacked, and handles it once the database is back (no dead letter, no
    failure recorded)."""
    from django.db import OperationalError

    buy(user_client, committed, vod.id)
    relay_all()
    real = events.deliver_to_group
    outage = iter([True, True])

    def flaky(*args, **kwargs):
        if next(outage, False):
            raise OperationalError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    monkeypatch.setattr(events, "deliver_to_group", flaky)
    monkeypatch.setattr(broker, "MIN_BACKOFF_SECONDS", 0.05)
    counts = consume("mileage")
    assert counts["outage_waits"] == 2 and counts["handled"] == 1
    assert counts["dead_lettered"] == 0 and not GroupRetry.objects.exists()
    assert points(user) == 1000 and queue_depth("mileage", dead=True) == 0


def test_handlers_are_right_in_any_order(broker_mode, user_client, user, vod, committed):
    """The clawback before the earn (a cancel overtaking a delayed approval): the points
    still come out even, and a later redelivery of either changes nothing."""
    bought = buy(user_client, committed, vod.id)
    with committed():
        assert user_client.post(f"/api/purchases/{bought['id']}/cancel/").status_code == 200
    relay_all()
    consume("payment")  # the refund: PaymentCancelled is published
    rows = list(OutboxEvent.objects.filter(type__startswith="Payment").order_by("-occurred_at"))
    assert [r.type for r in rows] == ["PaymentCancelled", "PaymentApproved"]
    with broker.connect() as conn:  # mileage has not taken the approval yet: it is late
        broker.group_queue("mileage", [])(conn.channel()).purge()
    relay = broker.Relay()
    for row in rows + rows:  # newest first, and each twice
        relay._publish(row, exchange=broker._name("events"), routing_key=row.type)
    relay.close()
    assert consume("mileage")["handled"] == 4
    entries = dict(MileageEntry.objects.values_list("reason", "delta"))
    assert entries == {"clawed_back": -1000, "earned": 1000}
    assert points(user) == 0
    assert Purchase.objects.get().status == "cancelled"


def test_an_undecodable_message_is_dead_lettered_and_nothing_else(
    broker_mode, user_client, user, vod, committed, capsys
):
    buy(user_client, committed, vod.id)
    relay_all()
    with broker.connect() as conn:
        producer = Producer(conn.channel())
        producer.publish(
            b"\xff not an event",
            exchange=broker._name("events"),
            routing_key="PaymentApproved",
            content_type="application/octet-stream",
            content_encoding="binary",
        )
        forged = {"id": str(uuid.uuid4()), "type": "PaymentApproved", "occurred_at": "2026-01-01"}
        producer.publish(
            {**forged, "payload": {"user_id": user.id, "purchase_id": 1, "method": "card"}},
            exchange=broker._name("events"),
            routing_key="PaymentApproved",
            serializer="json",
        )
    counts = consume("mileage")
    assert counts["handled"] == 1 and counts["dead_lettered"] == 2
    assert points(user) == 1000  # the real event, once; the forged one changed nothing
    assert queue_depth("mileage", dead=True) == 2
    letters = broker.dead_letters("mileage")
    assert len(letters) == 2 and queue_depth("mileage", dead=True) == 2  # listing keeps them

    from django.core.management import call_command

    call_command("dead_letters", "--group", "mileage", "--replay")
    assert "1 replayed, 1 not events, dropped" in capsys.readouterr().out
    assert consume("mileage")["dead_lettered"] == 1  # the forged event, not in the outbox
    assert points(user) == 1000


def test_a_message_that_kills_its_consumer_is_dead_lettered_after_the_delivery_limit(
    broker_mode, user_client, vod, committed
):
    buy(user_client, committed, vod.id)
    relay_all()
    deliveries = 0
    for _ in range(DELIVERY_LIMIT + 3):
        # a consumer takes the message and dies before its ack (its channel closes)
        with broker.connect() as conn:
            channel = conn.channel()
            queue = broker.group_queue("mileage", ["PaymentApproved"])(channel)
            message = queue.get(no_ack=False)
            if message is None:
                break
            deliveries += 1
    assert deliveries == DELIVERY_LIMIT + 1
    assert queue_depth("mileage") == 0 and queue_depth("mileage", dead=True) == 1
    assert not MileageEntry.objects.exists()


def test_declaring_again_is_idempotent(broker_mode):
    with broker.connect() as conn:
        channel = conn.channel()
        first = broker.declare(channel)
        assert broker.declare(channel) == first == events.groups()
    assert set(first) == {"mileage", "payment", "purchase"}


# --- A broker restart, and real processes ------------------------------------------------


@pytest.fixture
def private_rabbit():
    """A RabbitMQ node of this test's own (port 5694), which it may stop and restart."""
    rabbit = PrivateRabbit(port=5694)
    try:
        rabbit.start()
    except RabbitUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"a private RabbitMQ node could not start, and CI must run this: {exc}")
        pytest.skip(f"a private RabbitMQ node could not start: {exc}")
    yield rabbit
    rabbit.close()


def test_a_broker_restart_loses_nothing_confirmed(
    private_rabbit, user_client, user, committed, settings
):
    settings.EVENT_BROKER_URL = private_rabbit.url
    settings.EVENT_BROKER_PREFIX = "restart"
    for film in [make_vod() for _ in range(5)]:
        buy(user_client, committed, film.id)
    assert relay_all() == (10, 0)  # each confirmed by the broker (2 events a purchase)
    private_rabbit.restart()
    counts = consume("mileage", idle=1.5)
    assert counts["handled"] == 5
    assert points(user) == 5000


def test_a_consumer_outlives_a_broker_restart(private_rabbit, user_client, user, settings):
    """The broker goes away under a running consumer and comes back: the consumer
    reconnects by itself (with a backoff) and still stops when told to."""
    import threading

    settings.EVENT_BROKER_URL = private_rabbit.url
    settings.EVENT_BROKER_PREFIX = "outlive"
    consumer = broker.GroupConsumer("mileage")
    stop = threading.Event()
    worker = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    with broker.connect() as conn:
        broker.declare(conn.channel())
    worker.start()
    time.sleep(1)
    private_rabbit.restart()
    deadline = time.monotonic() + 30
    while consumer.counts["reconnects"] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    worker.join(timeout=10)
    assert consumer.counts["reconnects"] >= 1 and not worker.is_alive()


@pytest.mark.django_db(transaction=True)
def test_relay_and_consumers_as_processes_on_postgresql(broker_mode):
    if connection.vendor != "postgresql":
        pytest.skip("broker mode needs PostgreSQL: this test runs in `make test-postgres`")
    from django.db import connections

    settings_dict = connections["default"].settings_dict
    database_url = (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}"
        f"/{settings_dict['NAME']}"
    )
    buyer = make_user("process_buyer")
    films = [make_vod() for _ in range(4)]
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(buyer)
    for film in films:
        assert client.post("/api/purchases/", {"vod": film.id}).status_code == 201
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "EVENT_BROKER_URL": BROKER_URL,
        "EVENT_BROKER_PREFIX": broker_mode,
        "EVENT_BROKER_DELIVERY_LIMIT": str(DELIVERY_LIMIT),
        "DEBUG": "true",
    }
    manage = [sys.executable, "manage.py"]

    def run(*args):
        return subprocess.run(  # noqa: S603 - our own manage.py
            [*manage, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )

    relays = [
        subprocess.Popen(  # noqa: S603 - our own manage.py
            [*manage, "outbox_worker", "--until-idle", "--reconcile-every", "0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for relay in relays:
        _, err = relay.communicate(timeout=60)
        assert relay.returncode == 0, err
    consumed = run("consume_events", "--group", "mileage", "--until-idle", "2")
    assert consumed.returncode == 0, consumed.stderr
    assert "'handled': 4" in consumed.stdout
    # each purchase: PaymentApproved (mileage earns) and VodPurchased (purchase e-mails
    # the receipt), both published once although two relays ran
    assert OutboxEvent.objects.filter(status="published").count() == 8
    assert points(buyer) == 4000
    receipts = run("consume_events", "--group", "purchase", "--until-idle", "2")
    assert receipts.returncode == 0, receipts.stderr
    assert "'handled': 4" in receipts.stdout


@pytest.mark.django_db(transaction=True)
def test_a_purchase_and_its_consumers_handler_are_one_trace(broker_mode, vod):
    """The web request's trace travels with the outbox row and the message's headers:
    the relay's publish and the mileage consumer's handling (and its queries) are spans
    of the purchase's trace."""
    from django.db import connections
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind
    from rest_framework.test import APIClient

    from vodstore import tracing

    memory = InMemorySpanExporter()
    processor = tracing.add_exporter(memory)
    connections.close_all()  # reopened through the instrumented driver
    try:
        client = APIClient()
        client.force_authenticate(make_user("traced"))
        assert client.post("/api/purchases/", {"vod": vod.id}).status_code == 201
        (server,) = [s for s in memory.get_finished_spans() if s.kind == SpanKind.SERVER]
        row = OutboxEvent.objects.get(type="PaymentApproved")
        trace_id = format(server.context.trace_id, "032x")
        assert row.trace_context["traceparent"].split("-")[1] == trace_id
        memory.clear()
        relay_all()
        assert consume("mileage")["handled"] == 1
        finished = memory.get_finished_spans()
        # two messages published (PaymentApproved, VodPurchased), one consumed here
        producers = [s for s in finished if s.kind == SpanKind.PRODUCER]
        (consumer,) = [s for s in finished if s.kind == SpanKind.CONSUMER]
        assert len(producers) == 2
        assert {p.context.trace_id for p in producers} == {server.context.trace_id}
        assert consumer.context.trace_id == server.context.trace_id
        assert consumer.parent.span_id in {p.context.span_id for p in producers}
        handler_queries = [
            s
            for s in finished
            if s.kind == SpanKind.CLIENT
            and s.parent
            and s.parent.span_id == consumer.context.span_id
        ]
        assert handler_queries  # the earn's queries, inside the consumer's span
    finally:
        processor.shutdown()
        tracing.uninstrument()
        connections.close_all()
