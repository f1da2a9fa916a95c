"""Receipts by e-mail: sent after the purchase commits, through the event bus, once."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import transaction
from django.utils import timezone

from mileage.models import MileageAccount
from purchase import handlers
from purchase.models import Purchase, Receipt
from purchase.services import purchase_create
from tests.conftest import make_user, make_vod
from vodstore import events
from vodstore.models import EventDelivery, OutboxEvent

pytestmark = pytest.mark.django_db

HANDLER = events.handler_name(handlers.send_receipt_on_vod_purchased)


def buy(committed, user, vod, method="card", *, worker=True):
    """Buy; then (`worker`) the worker's pass once the event's grace has run out, which
    is when a receipt goes: the buyer's answer never waits on the mail server."""
    with committed():
        purchase = purchase_create(user_id=user.id, vod_id=vod.id, payment_method=method)
    if worker:
        the_worker_passes()
    return purchase.purchase


def the_worker_passes():
    later = timezone.now() + timedelta(seconds=settings.EVENTS_DISPATCH_GRACE_SECONDS + 1)
    events.run_worker_pass(now=later)


def test_the_buyers_answer_does_not_wait_for_the_receipt(committed):
    buyer = make_user("mina", email="mina@example.com")

    purchase = buy(committed, buyer, make_vod(), worker=False)

    # the request's own dispatch ran the other handlers and left the receipt's
    assert mail.outbox == [] and not Receipt.objects.exists()
    row = OutboxEvent.objects.get(type="VodPurchased", payload__purchase_id=purchase.pk)
    assert row.status == OutboxEvent.Status.PENDING and row.attempts == 0
    assert OutboxEvent.objects.get(type="PaymentApproved").status == "delivered"

    the_worker_passes()

    assert len(mail.outbox) == 1
    row.refresh_from_db()
    assert row.status == OutboxEvent.Status.DELIVERED


def test_a_purchase_mails_one_receipt_with_what_when_how_and_a_link(committed, settings):
    settings.SITE_URL = "https://vod.example.com"
    buyer = make_user("mina", email="mina@example.com")
    vod = make_vod(title="Paper Moon over Jeju", price=9900)

    purchase = buy(committed, buyer, vod)

    (message,) = mail.outbox
    assert message.to == ["mina@example.com"]
    assert message.subject == "Your receipt: Paper Moon over Jeju"
    body = message.body
    assert "Film: Paper Moon over Jeju" in body
    assert "Price: ₩9,900" in body
    assert "Paid with: Card" in body
    assert f"Receipt number: #{purchase.pk}" in body
    assert "Payment reference: P-" in body
    assert f"https://vod.example.com/purchases/{purchase.pk}/" in body
    assert Receipt.objects.get(purchase_id=purchase.pk).sent_at is not None


def test_a_purchase_with_points_says_so(committed, settings):
    buyer = make_user("mina", email="mina@example.com")
    MileageAccount.objects.create(user=buyer, balance=settings.MILEAGE_FREE_VOD_COST)

    buy(committed, buyer, make_vod(title="Alive!"), method="mileage")

    (message,) = mail.outbox
    assert f"Price: {settings.MILEAGE_FREE_VOD_COST:,} points" in message.body
    assert "Paid with: Points" in message.body


def test_a_redelivered_event_sends_no_second_receipt(committed):
    buyer = make_user("mina", email="mina@example.com")
    purchase = buy(committed, buyer, make_vod())
    row = OutboxEvent.objects.get(type="VodPurchased", payload__purchase_id=purchase.pk)
    assert len(mail.outbox) == 1

    # the handler itself, given the event again (a consumer that crashed before its ack)
    handlers.send_receipt_on_vod_purchased(
        events.Delivered(row.id, row.type, row.occurred_at, row.payload)
    )
    # and the bus, after forgetting that the handler had succeeded
    EventDelivery.objects.filter(event=row, handler=HANDLER).delete()
    OutboxEvent.objects.filter(pk=row.pk).update(status=OutboxEvent.Status.PENDING)
    assert events.dispatch([row.id]) == 1

    assert len(mail.outbox) == 1
    assert Receipt.objects.filter(purchase_id=purchase.pk).count() == 1


def test_no_receipt_when_the_purchase_rolls_back(committed):
    buyer = make_user("mina", email="mina@example.com")
    vod = make_vod()

    with committed(), pytest.raises(RuntimeError), transaction.atomic():
        purchase_create(user_id=buyer.id, vod_id=vod.id)
        raise RuntimeError("the surrounding transaction fails")

    assert not Purchase.objects.exists()
    assert mail.outbox == [] and not Receipt.objects.exists()


def test_no_receipt_for_a_buyer_without_an_address(committed):
    buy(committed, make_user("mina"), make_vod())

    assert mail.outbox == [] and not Receipt.objects.exists()


def test_a_failed_send_gives_the_claim_back_for_the_retry(committed, monkeypatch):
    buyer = make_user("mina", email="mina@example.com")

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("the mail server is down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    purchase = buy(committed, buyer, make_vod())
    row = OutboxEvent.objects.get(type="VodPurchased", payload__purchase_id=purchase.pk)
    assert row.status == OutboxEvent.Status.PENDING and not Receipt.objects.exists()
    assert row.attempts == 1 and "the mail server is down" in row.last_error

    monkeypatch.undo()
    events.run_worker_pass(now=row.next_attempt_at)

    assert len(mail.outbox) == 1
    assert Receipt.objects.get(purchase_id=purchase.pk).sent_at is not None
