"""The payment gateway port: what the store needs from a card processor.

The vocabulary is a real processor's: authorize a card, capture an authorization once
the purchase it pays for has committed, void an authorization nobody uses, refund a
captured charge, and look up an operation by its idempotency key when its answer was
lost. Every money-moving call carries an idempotency key: the same key repeats the
same operation's answer and never makes a second one.

Adapters live in `payment.adapters`; `PAYMENT_GATEWAY` names one ("simulated", "http")
or a dotted path to a class. Tests swap in a fake with `use_gateway`."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

ADAPTERS = {
    "simulated": "payment.adapters.simulated.SimulatedGateway",
    "http": "payment.adapters.http.HttpGateway",
}


class GatewayDeclined(Exception):
    """The processor refused the card: a business outcome, not a fault."""


class GatewayRejected(Exception):
    """The processor refused the operation for good (capturing a voided or expired
    authorization, refunding more than was captured, an unknown reference)."""


class GatewayError(Exception):
    """The processor failed or did not answer in time: a fault. The operation may or
    may not have happened; `lookup` with its key tells."""


@dataclass(frozen=True)
class Authorization:
    reference: str
    amount: int


@dataclass(frozen=True)
class OperationRecord:
    """What the processor knows of one operation, found by its idempotency key."""

    key: str
    kind: str  # authorize, capture, void, refund
    outcome: str  # succeeded, declined, rejected
    reference: str
    amount: int

    @classmethod
    def from_dict(cls, found: dict) -> "OperationRecord":
        return cls(**{name: found[name] for name in cls.__dataclass_fields__})


class PaymentGateway(Protocol):
    name: str

    def authorize(self, *, amount: int, idempotency_key: str) -> Authorization:
        """Hold `amount` KRW on the card; the same key never authorizes twice."""

    def capture(self, *, reference: str, amount: int, idempotency_key: str) -> None:
        """Take the money of an authorization (raises `GatewayRejected` when it was
        voided or has expired)."""

    def void(self, *, reference: str, idempotency_key: str) -> None:
        """Release an authorization that was not captured."""

    def refund(self, *, reference: str, amount: int, idempotency_key: str) -> None:
        """Give back a captured charge; the same key never refunds twice."""

    def lookup(self, *, idempotency_key: str) -> OperationRecord | None:
        """The operation made with this key, or None when the processor never made it.

        None must be final once the call's deadline (`PAYMENT_GATEWAY_TIMEOUT` after it
        started) has passed: the simulated processor drops a call that reaches it late.
        An adapter for a processor without deadlines must keep answering "in doubt"
        (raise `GatewayError`) until that processor's own request limit has passed."""

    def ledger(self) -> dict:
        """The processor's books for reconciliation: `{"charges": [{reference, amount,
        status (authorized, captured, voided, expired), refunded, refunds, created_at}]}`
        (a real processor's settlement report)."""


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
