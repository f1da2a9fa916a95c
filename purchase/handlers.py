"""Purchase's reactions to events: its own, once they have committed."""

from purchase import receipts
from vodstore.events import Delivered


def send_receipt_on_vod_purchased(event: Delivered) -> None:
    """A committed purchase e-mails its receipt (once, to buyers with an address)."""
    receipts.receipt_send(purchase_id=event.payload["purchase_id"])
