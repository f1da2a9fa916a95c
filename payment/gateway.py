"""The payment gateway port: what the store needs from a card processor.

Adapters live in `payment.adapters`; `PAYMENT_GATEWAY` names one ("simulated") or a
dotted path to a class. Tests swap in a fake with `use_gateway`."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

ADAPTERS = {"simulated": "payment.adapters.simulated.SimulatedGateway"}


class GatewayDeclined(Exception):
    """The processor refused the card: a business outcome, not a fault."""


class GatewayError(Exception):
    """The processor failed or did not answer in time: a fault."""


@dataclass(frozen=True)
class Authorization:
    reference: str
    amount: int


class PaymentGateway(Protocol):
    def authorize(self, *, amount: int, idempotency_key: str) -> Authorization:
        """Charge `amount` KRW; the same key never charges twice."""

    def void(self, *, reference: str) -> None:
        """Release an authorization whose purchase did not commit."""

    def refund(self, *, reference: str, amount: int) -> None:
        """Give back a captured payment; refunding twice is harmless."""


_override: PaymentGateway | None = None
_configured: PaymentGateway | None = None


def get_gateway() -> PaymentGateway:
    global _configured
    if _override is not None:
        return _override
    if _configured is None:
        path = ADAPTERS.get(settings.PAYMENT_GATEWAY, settings.PAYMENT_GATEWAY)
        _configured = import_string(path)()
    return _configured


@contextmanager
def use_gateway(gateway: PaymentGateway) -> Iterator[PaymentGateway]:
    """Use `gateway` for every payment inside the block (tests, drills)."""
    global _override
    previous, _override = _override, gateway
    try:
        yield gateway
    finally:
        _override = previous
