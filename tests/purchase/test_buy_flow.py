"""The one buy use case (`purchase_buy`) the API and the storefront both call, the
refusals' own messages, and the payment method vocabulary in the database."""

import uuid

import pytest
from django.db import IntegrityError, transaction
from django.utils import translation

from mileage.exceptions import InsufficientMileage
from payment.exceptions import PaymentDeclined, PaymentUnavailable
from purchase import idempotency
from purchase.exceptions import (
    AlreadyOwned,
    IdempotencyInProgress,
    NotCancellable,
    PurchaseThrottled,
    VodNotAvailable,
)
from purchase.models import IdempotencyKey, Purchase
from purchase.services import PurchaseResult, purchase_buy
from vodstore.errors import DomainError
from vodstore.vocabulary import PaymentMethod

pytestmark = pytest.mark.django_db


def describe(result: PurchaseResult) -> dict:
    return {"id": result.purchase.id, "amount": result.payment.amount}


def buy(committed, user, vod, *, key=None, method=PaymentMethod.CARD, **options):
    with committed():
        return purchase_buy(
            user_id=user.id,
            vod_id=vod.id,
            payment_method=method,
            idempotency_key=key,
            describe=describe,
            **options,
        )


def test_without_a_key_it_simply_buys(committed, user, vod, gateway):
    outcome = buy(committed, user, vod)

    purchase = Purchase.objects.get(user=user)
    assert (outcome.status, outcome.replayed, outcome.refusal) == (201, False, None)
    assert outcome.body == {"id": purchase.id, "amount": 4500}
    assert not IdempotencyKey.objects.exists()


def test_the_same_key_replays_the_first_body(committed, user, vod, gateway):
    key = str(uuid.uuid4())
    first = buy(committed, user, vod, key=key)
    again = buy(committed, user, vod, key=key)

    assert again.replayed and again.status == 201 and again.body == first.body
    assert len(gateway.charges) == 1


def test_a_replayed_refusal_comes_back_as_its_error_with_its_message(committed, user, vod, gateway):
    gateway.decline = True
    key = str(uuid.uuid4())
    with pytest.raises(PaymentDeclined):
        buy(committed, user, vod, key=key)
    gateway.decline = False

    again = buy(committed, user, vod, key=key)

    assert again.replayed and again.status == 402
    assert isinstance(again.refusal, PaymentDeclined)
    assert again.refusal.message() == "Your card payment was declined. Nothing was charged."
    assert gateway.charges == []


def test_a_replayed_refusal_keeps_its_figures(committed, user, vod):
    key = str(uuid.uuid4())
    with pytest.raises(InsufficientMileage):
        buy(committed, user, vod, key=key, method=PaymentMethod.MILEAGE)

    refusal = buy(committed, user, vod, key=key, method=PaymentMethod.MILEAGE).refusal

    assert isinstance(refusal, InsufficientMileage)
    assert refusal.message() == (
        "Not enough points: a free film needs 5,000 points and you have 0 points."
    )


def test_a_request_still_running_is_waited_for_then_refused(committed, user, vod, gateway):
    key = str(uuid.uuid4())
    IdempotencyKey.objects.create(
        user=user,
        key=key,
        fingerprint=idempotency.fingerprint({"vod": vod.id, "payment_method": "card"}),
    )

    with pytest.raises(IdempotencyInProgress):
        buy(committed, user, vod, key=key, wait_seconds=0.3)

    assert gateway.attempts == 0


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (VodNotAvailable(), "This film is not available for sale."),
        (AlreadyOwned(), "You already own this film."),
        (PaymentDeclined(), "Your card payment was declined. Nothing was charged."),
        (PaymentUnavailable(retry_after=1), "Payment is busy, please try again in 1 second."),
        (PaymentUnavailable(retry_after=7), "Payment is busy, please try again in 7 seconds."),
        (PurchaseThrottled(retry_after=2), "Too many purchases, please try again in 2 seconds."),
        (
            InsufficientMileage(required=5000, balance=1200),
            "Not enough points: a free film needs 5,000 points and you have 1,200 points.",
        ),
        (
            NotCancellable(reason="not_paid"),
            "This purchase cannot be cancelled: only a paid purchase can be.",
        ),
        (
            IdempotencyInProgress(retry_after=1),
            "Your purchase is still being processed. Please check again in a moment.",
        ),
        (DomainError(), "Your request could not be completed. Please try again."),
    ],
)
def test_each_refusal_says_itself_and_keeps_its_api_detail(error, message):
    detail = error.as_body()["detail"]
    assert error.message() == message
    with translation.override("ko"):
        korean = error.message()
        assert error.as_body()["detail"] == detail  # the API's detail stays English
    assert korean != message


def test_the_database_refuses_an_unknown_payment_method(user, vod):
    with pytest.raises(IntegrityError), transaction.atomic():
        Purchase.objects.create(
            user=user, vod_id=vod.id, vod_title=vod.title, payment_method="bitcoin", amount=1
        )
