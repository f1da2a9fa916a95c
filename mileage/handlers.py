"""Mileage's reactions to payment events. Mileage imports no other app: it reads the
events' payloads by the keys the event catalogue (vodstore/wiring.py) declares for it."""

from mileage import services
from vodstore.events import Delivered
from vodstore.vocabulary import PaymentMethod


def _paid_money(payload: dict) -> bool:
    """Points are only ever a reward for money paid: a card payment of a positive
    amount. A mileage-paid (free) purchase and a film of ₩0 earn nothing."""
    return payload["method"] == PaymentMethod.CARD and payload["amount"] > 0


def earn_on_payment_approved(event: Delivered) -> None:
    """A card payment of money earns points."""
    if not _paid_money(event.payload):
        return
    services.mileage_earn(
        user_id=event.payload["user_id"],
        purchase_id=event.payload["purchase_id"],
        event_id=event.id,
    )


def reverse_on_payment_cancelled(event: Delivered) -> None:
    """A cancelled payment takes back what its purchase earned or spent."""
    if event.payload["method"] == PaymentMethod.CARD and not _paid_money(event.payload):
        return  # it earned nothing: nothing to take back
    services.mileage_reverse(
        user_id=event.payload["user_id"],
        purchase_id=event.payload["purchase_id"],
        method=event.payload["method"],
        event_id=event.id,
    )
