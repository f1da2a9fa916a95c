"""Events the purchase context publishes."""

from dataclasses import dataclass

from vodstore.events import Event


@dataclass(frozen=True)
class VodPurchased(Event):
    """A purchase was approved with its payment."""

    purchase_id: int
    user_id: int
    vod_id: int
    payment_method: str
    amount: int


@dataclass(frozen=True)
class VodPurchaseCancelled(Event):
    """A paid purchase was cancelled; its payment and points are to be reversed."""

    purchase_id: int
    user_id: int
    vod_id: int
    payment_method: str
    amount: int
