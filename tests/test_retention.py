"""History retention (`vodstore.retention`, `manage.py prune_history` and the outbox
worker): finished events older than the window go with their records, a short
transaction per batch; failed, pending, unfinished and recent ones stay; the books
still balance afterwards."""

import io
import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mileage.models import MileageAccount
from payment.models import Operation
from purchase.models import IdempotencyKey
from purchase.services import purchase_cancel, purchase_create
from scripts import books
from tests.conftest import assert_books_balance, make_user, make_vod
from vodstore import retention
from vodstore.events import handler_name, handlers_for, retry_now, run_worker_pass
from vodstore.management.commands import outbox_worker
from vodstore.models import EventDelivery, GroupRetry, OutboxEvent

Status = OutboxEvent.Status
OLD, RECENT = 40, 29  # days, against the default window of 30


def make_event(
    status: str, *, days: int, event_type: str = "PaymentApproved", handled: bool = True
) -> OutboxEvent:
    """An event that reached `status` `days` ago, with the delivery records of every
    handler of its type (`handled`) or of none."""
    when = timezone.now() - timedelta(days=days)
    row = OutboxEvent.objects.create(
        type=event_type,
        payload={},
        occurred_at=when,
        next_attempt_at=when,
        status=status,
        delivered_at=when if status == Status.DELIVERED else None,
        published_at=when if status == Status.PUBLISHED else None,
    )
    if handled:
        for handler in handlers_for(event_type):
            EventDelivery.objects.create(event=row, handler=handler_name(handler))
    return row


def left() -> set:
    return set(OutboxEvent.objects.values_list("id", flat=True))


def expired_key(user, *, hours: float) -> IdempotencyKey:
    key = IdempotencyKey.objects.create(user=user, key=f"key-{hours}", fingerprint="f")
    IdempotencyKey.objects.filter(pk=key.pk).update(
        created_at=timezone.now() - timedelta(hours=hours)
    )
    return key


# --- What goes and what stays ----------------------------------------------------------


@pytest.mark.django_db
def test_old_delivered_events_go_with_their_deliveries_and_the_rest_stays():
    gone = [
        make_event(Status.DELIVERED, days=OLD),
        make_event(Status.DELIVERED, days=OLD, event_type="VodPurchased"),
        make_event(Status.DELIVERED, days=OLD, event_type="VodRegistered"),  # audit only
    ]
    kept = [
        make_event(Status.DELIVERED, days=RECENT),
        make_event(Status.FAILED, days=OLD, handled=False),  # until a person deals with it
        make_event(Status.PENDING, days=OLD, handled=False),
    ]
    assert EventDelivery.objects.filter(event__in=gone).count() == 2

    pruned = retention.outbox_prune()

    assert left() == {row.id for row in kept}
    assert not EventDelivery.objects.filter(event_id__in=[row.id for row in gone]).exists()
    assert EventDelivery.objects.filter(event=kept[0]).count() == 1
    assert (pruned.events["delivered"], pruned.deliveries, pruned.finished) == (3, 2, True)


@pytest.mark.django_db
def test_published_events_go_only_once_every_handler_ran_and_no_retry_is_left():
    """Broker mode: a published event is finished when each handler of its type has its
    delivery record and no app's retry of it is pending or given up."""
    done = make_event(Status.PUBLISHED, days=OLD)
    retried = make_event(Status.PUBLISHED, days=OLD, event_type="PaymentCancelled")
    GroupRetry.objects.create(
        event=retried,
        group="mileage",
        status=GroupRetry.Status.DONE,
        next_attempt_at=timezone.now(),
    )
    in_a_queue = make_event(Status.PUBLISHED, days=OLD, handled=False)  # or dead-lettered
    failing = make_event(Status.PUBLISHED, days=OLD, event_type="VodPurchased", handled=False)
    GroupRetry.objects.create(
        event=failing,
        group="purchase",
        status=GroupRetry.Status.FAILED,
        next_attempt_at=timezone.now(),
    )
    retrying = make_event(Status.PUBLISHED, days=OLD)
    GroupRetry.objects.create(
        event=retrying, group="mileage", next_attempt_at=timezone.now()
    )  # pending
    recent = make_event(Status.PUBLISHED, days=RECENT)
    nobody_handles = make_event(
        Status.PUBLISHED, days=OLD, event_type="RetiredEvent", handled=False
    )

    pruned = retention.outbox_prune()

    assert left() == {in_a_queue.id, failing.id, retrying.id, recent.id, nobody_handles.id}
    assert done.id not in left() and retried.id not in left()
    assert (pruned.events["published"], pruned.deliveries, pruned.retries) == (2, 2, 1)
    assert GroupRetry.objects.count() == 2  # the failed and the pending one


@pytest.mark.django_db
def test_the_window_is_a_setting(settings):
    make_event(Status.DELIVERED, days=RECENT)
    settings.OUTBOX_RETENTION_DAYS = 60
    assert retention.outbox_prune().events.total() == 0
    settings.OUTBOX_RETENTION_DAYS = 7
    assert retention.outbox_prune().events.total() == 1


# --- Small batches, each its own transaction ------------------------------------------


def count_from_another_connection() -> int:
    """What another process sees: only what has been committed."""
    seen = []

    def look() -> None:
        try:
            seen.append(OutboxEvent.objects.count())
        finally:
            connection.close()

    thread = threading.Thread(target=look)
    thread.start()
    thread.join(timeout=30)
    return seen[0]


@pytest.mark.django_db(transaction=True)
def test_batches_are_bounded_and_each_commits_on_its_own():
    for _ in range(5):
        make_event(Status.DELIVERED, days=OLD)
    seen = []

    def after(batch: retention.Batch) -> None:
        seen.append((batch.events, connection.in_atomic_block, count_from_another_connection()))

    pruned = retention.outbox_prune(batch_size=2, on_batch=after)

    # each batch had committed when the next began: another connection saw it gone
    assert seen == [(2, False, 3), (2, False, 1), (1, False, 0)]
    assert (pruned.batches, pruned.events.total(), pruned.deliveries) == (3, 5, 5)


@pytest.mark.django_db(transaction=True)
def test_pruning_inside_a_transaction_is_refused():
    """A caller's transaction would hold every batch's locks until its end."""
    make_event(Status.DELIVERED, days=OLD)
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        retention.outbox_prune()
    assert len(left()) == 1


@pytest.mark.django_db
def test_a_deadline_stops_after_a_batch_and_the_next_run_goes_on():
    for _ in range(5):
        make_event(Status.DELIVERED, days=OLD)

    first = retention.outbox_prune(batch_size=2, deadline=time.monotonic())
    assert (first.batches, first.events.total(), first.finished) == (1, 2, False)
    assert "more left for the next run" in first.summary()

    rest = retention.outbox_prune(batch_size=2)
    assert (rest.batches, rest.events.total(), rest.finished) == (2, 3, True)
    assert not left()


@pytest.mark.django_db
def test_a_batch_costs_the_same_queries_whatever_its_size():
    def queries_to_prune(n: int) -> int:
        for _ in range(n):
            make_event(Status.DELIVERED, days=OLD)
        with CaptureQueriesContext(connection) as queries:
            assert retention.outbox_prune(batch_size=100).events.total() == n
        return len(queries)

    assert queries_to_prune(1) == queries_to_prune(60)


@pytest.mark.django_db(transaction=True)
def test_two_pruners_at_once_take_different_batches():
    """PostgreSQL: rows another pruner holds are skipped (SKIP LOCKED), never waited for."""
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite serializes the pruners")
    rows = [make_event(Status.DELIVERED, days=OLD) for _ in range(5)]
    held, release, errors = threading.Event(), threading.Event(), []

    def other_pruner() -> None:
        try:
            with transaction.atomic():
                locked = OutboxEvent.objects.select_for_update().filter(
                    pk__in=[rows[0].pk, rows[1].pk]
                )
                list(locked)
                held.set()
                release.wait(timeout=30)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=other_pruner)
    thread.start()
    try:
        assert held.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")  # waiting would fail the test
        pruned = retention.outbox_prune(batch_size=10)
    finally:
        release.set()
        thread.join(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    assert not errors, errors
    assert pruned.events.total() == 3
    assert left() == {rows[0].id, rows[1].id}
    assert retention.outbox_prune().events.total() == 2


# --- manage.py prune_history ----------------------------------------------------------


@pytest.mark.django_db
def test_prune_history_dry_run_counts_per_kind_and_deletes_nothing():
    make_event(Status.DELIVERED, days=OLD)
    make_event(Status.DELIVERED, days=OLD, event_type="VodRegistered")
    make_event(Status.PUBLISHED, days=OLD)
    make_event(Status.FAILED, days=OLD, handled=False)
    out = io.StringIO()

    call_command("prune_history", "--dry-run", stdout=out)

    lines = out.getvalue().splitlines()
    for line in (
        "would delete: delivered events: 2",
        "would delete: published events: 1",
        "would delete: delivery records: 2",
        "would delete: retry records: 0",
        "kept: failed events: 1",
        "kept: pending events: 0",
    ):
        assert line in lines, out.getvalue()
    assert len(left()) == 4


@pytest.mark.django_db(transaction=True)
def test_prune_history_deletes_in_batches_and_says_what_it_deleted():
    user = make_user()
    for _ in range(3):
        make_event(Status.DELIVERED, days=OLD)
    make_event(Status.DELIVERED, days=RECENT)
    expired_key(user, hours=settings.IDEMPOTENCY_KEY_TTL_HOURS + 1)
    fresh = expired_key(user, hours=1)
    out = io.StringIO()

    call_command("prune_history", "--batch-size", "2", "--verbosity", "2", stdout=out)

    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines[:2]] == [
        "batch: 2 delivered event(s)",
        "batch: 1 delivered event(s)",
    ]
    assert lines[-1].startswith(
        "deleted 3 outbox event(s) older than 30 days (3 delivered), with 3 delivery and "
        "0 retry record(s), in 2 batch(es)"
    )
    assert lines[-1].endswith(
        "; deleted 1 expired idempotency key(s); deleted 0 gateway operation(s) that moved no money"
    )
    assert len(left()) == 1
    assert list(IdempotencyKey.objects.values_list("id", flat=True)) == [fresh.id]

    call_command("prune_history", "--days", "7", stdout=out)
    assert not left()


# --- The outbox worker prunes ----------------------------------------------------------


def worker(*args: str) -> str:
    out = io.StringIO()
    call_command("outbox_worker", "--once", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_the_worker_prunes_soon_after_start_and_forgets_expired_idempotency_keys(monkeypatch):
    monkeypatch.setattr(outbox_worker, "PRUNE_START_DELAY_SECONDS", 0)
    user = make_user()
    old = make_event(Status.DELIVERED, days=OLD)
    recent = make_event(Status.DELIVERED, days=RECENT)
    expired_key(user, hours=settings.IDEMPOTENCY_KEY_TTL_HOURS + 1)
    fresh = expired_key(user, hours=1)

    out = worker()

    assert "deleted 1 outbox event(s) older than 30 days" in out
    assert "deleted 1 expired idempotency key(s)" in out
    assert left() == {recent.id} and old.id not in left()
    assert list(IdempotencyKey.objects.values_list("id", flat=True)) == [fresh.id]


@pytest.mark.django_db(transaction=True)
def test_the_worker_delivers_first_and_prunes_only_when_due(monkeypatch):
    """A worker just started leaves pruning for later (events that piled up go out
    first); `--prune-every 0` never prunes."""
    make_event(Status.DELIVERED, days=OLD)
    assert worker() == "" and len(left()) == 1
    monkeypatch.setattr(outbox_worker, "PRUNE_START_DELAY_SECONDS", 0)
    assert worker("--prune-every", "0") == "" and len(left()) == 1
    assert "deleted 1 outbox event(s)" in worker()


@pytest.mark.django_db(transaction=True)
def test_a_worker_whose_pruning_fails_still_delivers(monkeypatch, caplog):
    monkeypatch.setattr(outbox_worker, "PRUNE_START_DELAY_SECONDS", 0)

    def broken(**kwargs):
        raise RuntimeError("a bug in pruning")

    monkeypatch.setattr(retention, "history_prune", broken)
    now = timezone.now()
    due = OutboxEvent.objects.create(
        type="VodRegistered",
        payload={},
        occurred_at=now,
        next_attempt_at=now - timedelta(seconds=1),
    )

    out = worker()

    assert "claimed 1 event(s), delivered 1" in out
    due.refresh_from_db()
    assert due.status == Status.DELIVERED
    assert "pruning history failed" in caplog.text


@pytest.mark.django_db
def test_a_long_clean_up_goes_on_at_the_next_passes_a_slice_at_a_time(monkeypatch, settings):
    monkeypatch.setattr(outbox_worker, "PRUNE_START_DELAY_SECONDS", 0)
    monkeypatch.setattr(outbox_worker, "PRUNE_SLICE_SECONDS", 0)  # one batch per pass
    settings.OUTBOX_RETENTION_BATCH_SIZE = 2
    purged = []
    monkeypatch.setattr(
        retention.purchase_services, "idempotency_keys_purge", lambda: purged.append(1) or 0
    )
    for _ in range(5):
        make_event(Status.DELIVERED, days=OLD)
    pruning = outbox_worker.Pruning(outbox_worker.Command(stdout=io.StringIO()), every=600)

    sizes = []
    for _ in range(4):
        pruning.run_if_due()
        sizes.append(len(left()))

    # three passes take 2, 2 and 1; the fourth is not due (the next period)
    assert sizes == [3, 1, 0, 0]
    assert purged == [1]  # the keys once per period, not per slice
    assert pruning.due > time.monotonic() + 590


# --- The books after pruning -----------------------------------------------------------


@pytest.mark.django_db
def test_the_books_balance_after_the_store_history_is_pruned(committed, gateway):
    """A store made through the services (card purchases, one cancelled), its events
    delivered, then aged past the window and pruned: nothing the books check relies on
    is gone, and the money record (payments, operations) is all there."""
    buyer = make_user()
    films = [make_vod(price=5000) for _ in range(3)]
    with committed():
        purchases = [purchase_create(user_id=buyer.id, vod_id=f.id).purchase for f in films]
    with committed():
        purchase_cancel(user_id=buyer.id, purchase_id=purchases[0].id)
    run_worker_pass(now=timezone.now() + timedelta(minutes=5))  # the receipts, deferred
    assert not OutboxEvent.objects.exclude(status=Status.DELIVERED).exists()
    balance = MileageAccount.objects.get(user=buyer).balance
    operations = Operation.objects.count()
    OutboxEvent.objects.update(delivered_at=timezone.now() - timedelta(days=OLD))

    pruned = retention.outbox_prune()

    assert pruned.events.total() > 0 and not OutboxEvent.objects.exists()
    assert not EventDelivery.objects.exists()
    assert_books_balance()
    assert books.events() == []
    assert not any(books.charges(gateway.ledger()["charges"]).values())
    assert MileageAccount.objects.get(user=buyer).balance == balance == 2 * 1000
    assert Operation.objects.count() == operations  # payment operations stay


@pytest.mark.django_db
def test_a_failed_event_is_kept_however_old_until_someone_retries_it():
    row = make_event(Status.FAILED, days=365, event_type="VodRegistered", handled=False)
    retention.outbox_prune()
    assert left() == {row.id}
    retry_now([row.id])  # admin's "Retry now": delivered, and from then on it ages
    OutboxEvent.objects.filter(pk=row.pk).update(delivered_at=timezone.now() - timedelta(OLD))
    retention.outbox_prune()
    assert not left()
