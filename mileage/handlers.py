"""Mileage's reactions to payment events. Mileage imports no other app: it reads the
events' payloads by their documented keys."""

from mileage import services
from vodstore.events import Delivered


def earn_on_payment_approved(event: Delivered) -> None:
    """A card payment earns points; a mileage-paid (free) purchase earns nothing."""
    if event.payload["method"] != "card":
        return
    services.mileage_earn(
        user_id=event.payload["user_id"],
        purchase_id=event.payload["purchase_id"],
        event_id=event.id,
    )


def reverse_on_payment_cancelled(event: Delivered) -> None:
    """A cancelled payment takes back what its purchase earned or spent."""
    services.mileage_reverse(
        user_id=event.payload["user_id"],
        purchase_id=event.payload["purchase_id"],
        method=event.payload["method"],
        event_id=event.id,
    )
