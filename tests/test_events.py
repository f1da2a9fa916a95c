"""The event bus (SPEC section 3): a failing handler never undoes the purchase nor stops
the other handlers, is retried by the worker after its backoff, and takes effect once;
nothing is lost when the process dies between commit and dispatch, nothing is sent for
a transaction that rolled back, and two workers never deliver an event twice."""

import dataclasses
import gc
import io
import threading
import time
from collections import Counter
from datetime import timedelta

import blinker
import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from mileage import services as mileage_services
from mileage.models import MileageAccount, MileageEntry
from payment import services as payment_services
from payment.handlers import cancel_on_purchase_cancelled
from payment.models import Payment
from purchase.models import Purchase
from tests.conftest import assert_books_balance, make_user
from vodstore import events
from vodstore.models import EventDelivery, OutboxEvent

# --- Made-up events and module-level test handlers ---------------------------------------


@dataclasses.dataclass(frozen=True)
class EventsTestPinged(events.Event):
    n: int


@dataclasses.dataclass(frozen=True)
class EventsTestOrdered(events.Event):
    n: int


CALLS: list[tuple[str, object]] = []  # (handler's short name, event id), in call order
FAULTS: set[str] = set()  # short names of the handlers that raise for now
_lock = threading.Lock()


def _record(name: str, event: events.Delivered) -> None:
    with _lock:
        CALLS.append((name, event.id))
    if name in FAULTS:
        raise RuntimeError(f"{name} is broken")


def ping_first_fails(event: events.Delivered) -> None:
    _record("ping_first_fails", event)


def ping_second_records(event: events.Delivered) -> None:
    _record("ping_second_records", event)


def write_then_fail(event: events.Delivered) -> None:
    Group.objects.create(name=f"written-by-{event.id}")
    _record("write_then_fail", event)


def slow_record(event: events.Delivered) -> None:
    time.sleep(0.005)
    _record("slow_record", event)


def order_a(event: events.Delivered) -> None:
    _record("order_a", event)


def order_b(event: events.Delivered) -> None:
    _record("order_b", event)


def order_c(event: events.Delivered) -> None:
    _record("order_c", event)


def _make_orphan() -> events.Handler:
    """A handler that nothing but the bus will reference once it is subscribed."""

    def orphan(event: events.Delivered) -> None:
        _record("orphan", event)

    return orphan


@pytest.fixture
def bus():
    """`bus(type, handler, atomic=...)` subscribes a test handler for this test only."""
    CALLS.clear()
    FAULTS.clear()
    types: set[str] = set()

    def subscribe(event_type: str, handler: events.Handler, *, atomic: bool = True) -> None:
        events.subscribe(event_type, handler, atomic=atomic)
        types.add(event_type)

    yield subscribe
    for event_type in types:
        signal = events._signals.signal(event_type)
        for receiver in list(signal.receivers_for(None)):
            signal.disconnect(receiver)
            events._options.pop(receiver, None)
    CALLS.clear()
    FAULTS.clear()


def called(name: str) -> int:
    return sum(1 for who, _ in CALLS if who == name)


def delivered_to(event_id) -> list[str]:
    return sorted(EventDelivery.objects.filter(event_id=event_id).values_list("handler", flat=True))


def publish_committed(committed, event: events.Event):
    with committed(), transaction.atomic():
        return events.publish(event)


def worker_once() -> str:
    out = io.StringIO()
    call_command("outbox_worker", "--once", stdout=out)
    return out.getvalue()


def logged_in_client() -> tuple[APIClient, object]:
    user = make_user()
    client = APIClient()
    client.force_authenticate(user)
    return client, user


# --- 1. A failing handler: the purchase stands, the worker retries after the backoff ---


@pytest.mark.django_db(transaction=True)
def test_failing_mileage_handler_keeps_the_purchase_and_is_retried_once(vod, monkeypatch):
    client, user = logged_in_client()
    with monkeypatch.context() as fault:

        def broken(**kwargs):
            raise RuntimeError("mileage is down")

        fault.setattr(mileage_services, "mileage_earn", broken)
        # Real commits: the dispatch (and the handler's failure) happens inside the request.
        response = client.post("/api/purchases/", {"vod": vod.id}, format="json")

    assert response.status_code == 201
    purchase = Purchase.objects.get(pk=response.json()["id"])
    assert purchase.status == "paid"
    assert Payment.objects.get(purchase_id=purchase.id).status == "approved"
    event = OutboxEvent.objects.get(type="PaymentApproved")
    assert (event.status, event.attempts) == ("pending", 1)
    assert "mileage.handlers.earn_on_payment_approved" in event.last_error
    assert "mileage is down" in event.last_error
    assert event.next_attempt_at > timezone.now()  # backed off
    assert not MileageEntry.objects.exists()
    assert not MileageAccount.objects.filter(balance__gt=0).exists()
    assert not EventDelivery.objects.filter(event=event).exists()
    assert not OutboxEvent.objects.filter(type="MileageChanged").exists()

    # Fault gone, but the backoff has not run out: the worker leaves it alone.
    assert worker_once() == ""
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("pending", 1)
    assert not MileageEntry.objects.exists()

    later = event.next_attempt_at + timedelta(seconds=1)
    monkeypatch.setattr(events, "_now", lambda: later)
    assert "claimed 1 event(s), delivered 1" in worker_once()
    event.refresh_from_db()
    assert (event.status, event.last_error) == ("delivered", "")
    assert MileageAccount.objects.get(user=user).balance == 1000
    entry = MileageEntry.objects.get()
    assert (entry.delta, entry.reason, entry.event_id) == (1000, "earned", event.id)
    assert delivered_to(event.id) == ["mileage.handlers.earn_on_payment_approved"]

    # Again, much later: only the purchase's VodPurchased, whose receipt handler is
    # deferred to the worker (no address: nothing sent); the points do not change.
    monkeypatch.setattr(events, "_now", lambda: later + timedelta(days=1))
    assert "claimed 1 event(s), delivered 1" in worker_once()
    assert OutboxEvent.objects.get(type="VodPurchased").status == "delivered"
    assert worker_once() == ""
    assert MileageAccount.objects.get(user=user).balance == 1000
    assert MileageEntry.objects.count() == 1
    assert EventDelivery.objects.filter(event=event).count() == 1
    assert_books_balance()


# --- 2. One failing handler does not stop the others; a retry runs only the failed one ---


@pytest.mark.django_db
def test_a_failing_handler_does_not_stop_the_others(bus, committed):
    # Sorted by name, the failing handler runs first.
    bus(EventsTestPinged.type, ping_second_records)
    bus(EventsTestPinged.type, ping_first_fails)
    FAULTS.add("ping_first_fails")

    event_id = publish_committed(committed, EventsTestPinged(n=1))

    assert [("ping_first_fails", event_id), ("ping_second_records", event_id)] == CALLS
    row = OutboxEvent.objects.get(pk=event_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "tests.test_events.ping_first_fails" in row.last_error
    assert "ping_second_records" not in row.last_error
    assert delivered_to(event_id) == ["tests.test_events.ping_second_records"]

    FAULTS.clear()
    assert events.run_worker_pass(now=row.next_attempt_at + timedelta(seconds=1)) == (1, 1)
    assert called("ping_first_fails") == 2
    assert called("ping_second_records") == 1  # its success was recorded: not run again
    row.refresh_from_db()
    assert row.status == "delivered"
    assert delivered_to(event_id) == [
        "tests.test_events.ping_first_fails",
        "tests.test_events.ping_second_records",
    ]

    assert events.run_worker_pass(now=timezone.now() + timedelta(days=1)) == (0, 0)
    assert len(CALLS) == 3


# --- 3. A crash between commit and dispatch loses nothing ------------------------------


@pytest.mark.django_db
def test_an_event_never_dispatched_is_delivered_after_the_grace_period(
    user_client, user, vod, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post("/api/purchases/", {"vod": vod.id}, format="json")
    assert response.status_code == 201
    assert callbacks  # committed; the process "dies" before running them: thrown away

    event = OutboxEvent.objects.get(type="PaymentApproved")
    assert (event.status, event.attempts) == ("pending", 0)
    grace = timedelta(seconds=settings.EVENTS_DISPATCH_GRACE_SECONDS)
    assert event.next_attempt_at == event.occurred_at + grace
    assert events.run_worker_pass() == (0, 0)
    assert events.run_worker_pass(now=event.occurred_at + grace - timedelta(seconds=1)) == (0, 0)
    assert not MileageEntry.objects.exists()

    assert events.run_worker_pass(now=event.occurred_at + grace) == (1, 1)
    event.refresh_from_db()
    assert event.status == "delivered"
    assert MileageAccount.objects.get(user=user).balance == 1000
    assert MileageEntry.objects.get().event_id == event.id
    # VodPurchased (the receipt's event), published a moment later, is due a moment later
    assert events.run_worker_pass(now=event.occurred_at + grace * 100) == (1, 1)
    assert events.run_worker_pass(now=event.occurred_at + grace * 200) == (0, 0)
    assert MileageEntry.objects.count() == 1
    assert_books_balance()


# --- 4. No event for a rolled-back transaction; none outside a transaction -------------


class Boom(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_no_event_from_a_rolled_back_transaction_nor_outside_one(bus):
    bus(EventsTestPinged.type, ping_second_records)

    with pytest.raises(Boom), transaction.atomic():
        events.publish(EventsTestPinged(n=1))
        assert OutboxEvent.objects.count() == 1  # written in the transaction...
        raise Boom
    assert not OutboxEvent.objects.exists()  # ...and gone with it
    assert CALLS == []

    with pytest.raises(RuntimeError, match="outside a transaction"):
        events.publish(EventsTestPinged(n=2))
    assert not OutboxEvent.objects.exists()
    assert CALLS == []

    # The control: the same publish in a transaction that commits is sent after the commit.
    with transaction.atomic():
        event_id = events.publish(EventsTestPinged(n=3))
        assert CALLS == []
    assert [("ping_second_records", event_id)] == CALLS
    assert OutboxEvent.objects.get().status == "delivered"


# --- 5. An atomic handler that fails midway leaves nothing behind ----------------------


@pytest.mark.django_db
def test_an_atomic_handler_failing_midway_leaves_no_partial_writes(bus, committed):
    bus(EventsTestPinged.type, write_then_fail)
    FAULTS.add("write_then_fail")

    event_id = publish_committed(committed, EventsTestPinged(n=1))

    assert called("write_then_fail") == 1  # it wrote its group, then raised
    assert not Group.objects.exists()
    assert not EventDelivery.objects.exists()
    row = OutboxEvent.objects.get(pk=event_id)
    assert (row.status, row.attempts) == ("pending", 1)

    FAULTS.clear()
    assert events.run_worker_pass(now=row.next_attempt_at) == (1, 1)
    assert list(Group.objects.values_list("name", flat=True)) == [f"written-by-{event_id}"]
    assert delivered_to(event_id) == ["tests.test_events.write_then_fail"]


# --- 6. Giving up, and retrying by hand ------------------------------------------------


def _publish_until_given_up(committed) -> OutboxEvent:
    FAULTS.add("ping_first_fails")
    event_id = publish_committed(committed, EventsTestPinged(n=1))
    row = OutboxEvent.objects.get(pk=event_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert events.run_worker_pass(now=row.next_attempt_at) == (1, 0)
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 2)
    # Given up: no worker takes it again, however late.
    assert events.run_worker_pass(now=timezone.now() + timedelta(days=30)) == (0, 0)
    assert called("ping_first_fails") == 2
    assert not EventDelivery.objects.exists()
    FAULTS.clear()
    return row


@pytest.mark.django_db
def test_gives_up_after_max_attempts_and_retry_now_delivers(bus, committed, settings):
    settings.EVENTS_MAX_ATTEMPTS = 2
    bus(EventsTestPinged.type, ping_first_fails)
    row = _publish_until_given_up(committed)

    assert events.retry_now([row.id]) == 1
    row.refresh_from_db()
    assert row.status == "delivered"
    assert called("ping_first_fails") == 3
    assert delivered_to(row.id) == ["tests.test_events.ping_first_fails"]

    assert events.retry_now([row.id]) == 0  # a delivered event is not run again
    assert called("ping_first_fails") == 3


@pytest.mark.django_db
def test_admin_retry_now_action_delivers_a_given_up_event(bus, committed, settings, admin_client):
    settings.EVENTS_MAX_ATTEMPTS = 2
    bus(EventsTestPinged.type, ping_first_fails)
    row = _publish_until_given_up(committed)

    response = admin_client.post(
        "/admin/vodstore/outboxevent/",
        {"action": "retry_now", "_selected_action": [str(row.id)], "index": 0},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 of 1 event(s) fully delivered." in response.content.decode()
    row.refresh_from_db()
    assert row.status == "delivered"
    assert called("ping_first_fails") == 3
    assert delivered_to(row.id) == ["tests.test_events.ping_first_fails"]


# --- 7. Two workers at once ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_deliver_every_event_exactly_once(bus):
    bus(EventsTestPinged.type, slow_record)
    now = timezone.now()
    OutboxEvent.objects.bulk_create(
        OutboxEvent(
            type=EventsTestPinged.type,
            payload={"n": n},
            occurred_at=now,
            next_attempt_at=now - timedelta(seconds=1),  # due
        )
        for n in range(40)
    )
    barrier = threading.Barrier(2)
    claimed = [0, 0]
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            while taken := events.run_worker_pass(batch=5)[0]:
                claimed[i] += taken
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    assert not errors, errors

    ids = set(OutboxEvent.objects.values_list("id", flat=True))
    assert Counter(event_id for _, event_id in CALLS) == dict.fromkeys(ids, 1)
    assert sum(claimed) == 40, claimed  # no event claimed twice
    if connection.vendor == "postgresql":
        # SKIP LOCKED: both workers take part. (SQLite serializes the writers, and its
        # busy handler may let one worker starve the other: correct, merely slower.)
        assert all(claimed), claimed
    assert OutboxEvent.objects.filter(status="delivered").count() == 40
    assert EventDelivery.objects.count() == 40


# --- 8. Fixed order, strong references -------------------------------------------------


@pytest.mark.django_db
def test_handlers_run_in_a_fixed_order_and_are_held_strongly(bus, committed):
    for handler in (order_c, order_a, order_b):
        bus(EventsTestOrdered.type, handler)
    bus(EventsTestOrdered.type, _make_orphan())  # nothing else references it
    gc.collect()

    # What blinker's default (weak) connection would have done with such a handler:
    weak = blinker.Signal()
    weak.connect(_make_orphan())
    gc.collect()
    assert list(weak.receivers_for(None)) == []

    first = publish_committed(committed, EventsTestOrdered(n=1))
    second = publish_committed(committed, EventsTestOrdered(n=2))
    order = ["orphan", "order_a", "order_b", "order_c"]  # by qualified name
    assert [(name, first) for name in order] + [(name, second) for name in order] == CALLS
    assert [events.handler_name(h) for h in events.handlers_for(EventsTestOrdered.type)] == [
        "tests.test_events._make_orphan.<locals>.orphan",
        "tests.test_events.order_a",
        "tests.test_events.order_b",
        "tests.test_events.order_c",
    ]


# --- 9. The payment-cancel handler calls the gateway outside a transaction -------------


@pytest.mark.django_db(transaction=True)
def test_a_failed_refund_keeps_the_cancel_and_is_retried(vod, gateway, monkeypatch):
    client, user = logged_in_client()
    bought = client.post("/api/purchases/", {"vod": vod.id}, format="json").json()
    assert MileageAccount.objects.get(user=user).balance == 1000

    in_transaction: list[bool] = []  # was the handler's connection in a transaction?
    payment_cancel = payment_services.payment_cancel

    def watched_payment_cancel(**kwargs):
        in_transaction.append(connection.in_atomic_block)
        return payment_cancel(**kwargs)

    monkeypatch.setattr(payment_services, "payment_cancel", watched_payment_cancel)
    gateway.fail = True
    response = client.post(f"/api/purchases/{bought['id']}/cancel/")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["payment"]["status"] == "approved"
    assert Purchase.objects.get(pk=bought["id"]).status == "cancelled"
    payment = Payment.objects.get(purchase_id=bought["id"])
    assert payment.status == "approved" and gateway.refunds == []
    event = OutboxEvent.objects.get(type="VodPurchaseCancelled")
    assert (event.status, event.attempts) == ("pending", 1)
    assert "payment.handlers.cancel_on_purchase_cancelled" in event.last_error
    assert not OutboxEvent.objects.filter(type="PaymentCancelled").exists()
    assert MileageAccount.objects.get(user=user).balance == 1000
    assert events.is_atomic(cancel_on_purchase_cancelled) is False
    assert in_transaction == [False]  # it calls the gateway outside any transaction

    gateway.fail = False
    assert worker_once() == ""  # still backing off
    monkeypatch.setattr(events, "_now", lambda: event.next_attempt_at + timedelta(seconds=1))
    assert "claimed 1 event(s), delivered 1" in worker_once()

    payment.refresh_from_db()
    assert payment.status == "cancelled"
    assert gateway.refunds == [payment.gateway_reference]
    assert in_transaction == [False, False]
    assert MileageAccount.objects.get(user=user).balance == 0
    assert OutboxEvent.objects.get(type="PaymentCancelled").status == "delivered"
    # all delivered but the receipt's VodPurchased, deferred to the worker's later pass
    undelivered = OutboxEvent.objects.exclude(status="delivered")
    assert list(undelivered.values_list("type", flat=True)) == ["VodPurchased"]
    assert_books_balance()
