"""The history bench's builder (`scripts.history_build`) makes a store whose books
balance: a tiny history, built in the test database as `make history` builds millions,
passes the same `scripts.books` checks as a store made through the services."""

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from catalog.models import Vod
from mileage.models import MileageAccount, MileageEntry
from payment.models import Operation, Payment
from purchase.models import Purchase
from purchase.services import purchase_cancel, purchase_create
from scripts import books
from scripts.history_build import HistoryRefused, history_fill, schema_of
from tests.conftest import make_vod
from vodstore.events import handler_name, handlers_for, run_worker_pass
from vodstore.models import EventDelivery, OutboxEvent

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the history builder is set-based PostgreSQL SQL (generate_series, "
        "hashint8extended, pg_get_indexdef); run with DATABASE_URL=postgres://...",
    ),
]

PURCHASES, BUYERS = 300, 40


@pytest.fixture
def history():
    for n in range(30):
        make_vod(price=0 if n % 10 == 0 else 4500 + 100 * n)  # a few films of ₩0
    filled = [Purchase, Payment, Operation, MileageEntry, MileageAccount, OutboxEvent]
    tables = [model._meta.db_table for model in [*filled, EventDelivery]]
    with connection.cursor() as cursor:
        before = schema_of(cursor, tables)
    made = history_fill(purchases=PURCHASES, buyers=BUYERS, days=60, say=lambda _: None)
    with connection.cursor() as cursor:
        after = schema_of(cursor, tables)
    return {"made": made, "before": before, "after": after}


def test_a_built_history_balances(history):
    assert Purchase.objects.count() == PURCHASES
    assert books.problems() == []
    assert books.events() == []


def test_it_has_every_kind_of_purchase_and_its_records(history):
    purchases = Counter(Purchase.objects.values_list("payment_method", "status"))
    assert purchases[("card", "paid")] > purchases[("mileage", "paid")] > 0
    assert purchases[("card", "cancelled")] + purchases[("mileage", "cancelled")] > 0
    assert Purchase.objects.filter(amount=0).exists()  # films of ₩0
    kinds = Counter(Operation.objects.values_list("kind", "state"))
    charged = Payment.objects.exclude(authorization=None)
    assert kinds[("authorize", "succeeded")] == kinds[("capture", "succeeded")] == charged.count()
    assert kinds[("refund", "succeeded")] == charged.filter(status="cancelled").count()
    # the keys are unique by the schema, each charge's reference by construction
    references = list(charged.values_list("gateway_reference", flat=True))
    assert len(set(references)) == len(references)
    assert all(r.startswith("sim_") and len(r) == 36 for r in references)
    # every event delivered, each with one delivery per handler the catalogue gives it
    events = OutboxEvent.objects.prefetch_related("deliveries")
    wanted_events = 0  # two of the purchase (and two of a cancel), one per ledger entry
    for p in Purchase.objects.values():
        cancels = 2 if p["status"] == Purchase.Status.CANCELLED else 0
        wanted_events += 2 + cancels + len(books.points_wanted(p))
    assert events.count() == wanted_events
    for event in events:
        assert event.status == OutboxEvent.Status.DELIVERED
        wanted = sorted(handler_name(h) for h in handlers_for(event.type))
        assert sorted(d.handler for d in event.deliveries.all()) == wanted
    # the points a free film cost were earned before (no balance below zero at the end)
    assert not MileageAccount.objects.filter(balance__lt=0).exists()
    assert MileageEntry.objects.count() == sum(
        len(books.points_wanted(p)) for p in Purchase.objects.values()
    )
    assert history["made"]["rows"]["purchases"] == PURCHASES


def test_its_indexes_and_constraints_are_the_migrations(history):
    assert history["after"] == history["before"]
    assert len(history["before"]) > 20


def test_a_history_buyer_then_buys_and_cancels_through_the_services(history, committed):
    buyer = Purchase.objects.values_list("user_id", flat=True).order_by("id").last()
    owned = set(Purchase.objects.filter(user_id=buyer).values_list("vod_id", flat=True))
    film = next(f for f in Vod.objects.filter(price__gt=0) if f.id not in owned)
    with committed():
        made = purchase_create(user_id=buyer, vod_id=film.id)
    assert made.purchase.id == PURCHASES + 1  # the sequences carry on after the history
    with committed():
        purchase_cancel(user_id=buyer, purchase_id=made.purchase.id)
    run_worker_pass(now=timezone.now() + timedelta(minutes=5))  # the receipt, deferred
    assert books.problems() == []
    assert books.events() == []


def test_it_fills_only_an_empty_store(history):
    with pytest.raises(HistoryRefused, match="has rows already"):
        history_fill(purchases=10, buyers=2, days=1, say=lambda _: None)
