"""Events the mileage context publishes."""

from dataclasses import dataclass

from vodstore.events import Event


@dataclass(frozen=True)
class MileageChanged(Event):
    """A ledger entry was written."""

    user_id: int
    entry_id: int
    delta: int
    reason: str
    purchase_id: int
