"""Payment's reactions to purchase events."""

from payment import services
from vodstore.events import Delivered


def cancel_on_purchase_cancelled(event: Delivered) -> None:
    """A cancelled purchase's payment is refunded and cancelled."""
    services.payment_cancel(purchase_id=event.payload["purchase_id"])
