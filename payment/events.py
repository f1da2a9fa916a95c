"""Events the payment context publishes."""

from dataclasses import dataclass

from vodstore.events import Event


@dataclass(frozen=True)
class PaymentApproved(Event):
    """A payment was approved together with its purchase."""

    payment_id: int
    purchase_id: int
    user_id: int
    method: str
    amount: int


@dataclass(frozen=True)
class PaymentCancelled(Event):
    """A payment was cancelled (a card payment refunded through the gateway)."""

    payment_id: int
    purchase_id: int
    user_id: int
    method: str
    amount: int
