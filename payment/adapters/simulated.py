"""The simulated gateway in the store's own process: approves automatically, as the
original store did, and keeps its books in a SQLite file of its own
(`PAYMENT_SIMULATED_LEDGER`), so a killed store process takes no record of money with
it. `PAYMENT_GATEWAY=http` talks to the same processor run as its own process."""

import time

from django.conf import settings

from payment import simulator
from payment.gateway import (
    Authorization,
    GatewayDeclined,
    GatewayError,
    GatewayRejected,
    OperationRecord,
)


class SimulatedGateway:
    """`PAYMENT_SIMULATED_LATENCY_MS` ("600-900"), `..._FAILURE_RATE`,
    `..._LOST_ANSWER_RATE`, `..._DECLINE_RATE`, `..._AUTHORIZATION_SECONDS`."""

    name = "simulated"

    def __init__(self, ledger: str | None = None, knobs: simulator.Knobs | None = None) -> None:
        self.processor = simulator.Processor(
            str(ledger or settings.PAYMENT_SIMULATED_LEDGER),
            knobs
            or simulator.Knobs(
                latency_ms=simulator.parse_latency(settings.PAYMENT_SIMULATED_LATENCY_MS),
                failure_rate=settings.PAYMENT_SIMULATED_FAILURE_RATE,
                lost_answer_rate=settings.PAYMENT_SIMULATED_LOST_ANSWER_RATE,
                decline_rate=settings.PAYMENT_SIMULATED_DECLINE_RATE,
                authorization_seconds=settings.PAYMENT_SIMULATED_AUTHORIZATION_SECONDS,
            ),
        )

    @property
    def knobs(self) -> simulator.Knobs:
        return self.processor.knobs

    def _call(self, operation, **kwargs) -> dict:
        # A caller gives up after PAYMENT_GATEWAY_TIMEOUT (the guard's thread may
        # outlive its own timeout): the processor then makes nothing.
        deadline = time.time() + settings.PAYMENT_GATEWAY_TIMEOUT
        try:
            return operation(**kwargs, deadline=deadline)
        except simulator.Declined as exc:
            raise GatewayDeclined(str(exc)) from exc
        except simulator.Rejected as exc:
            raise GatewayRejected(str(exc)) from exc
        except simulator.Unavailable as exc:
            raise GatewayError(str(exc)) from exc

    def authorize(self, *, amount: int, idempotency_key: str) -> Authorization:
        found = self._call(self.processor.authorize, key=idempotency_key, amount=amount)
        return Authorization(reference=found["reference"], amount=found["amount"])

    def capture(self, *, reference: str, amount: int, idempotency_key: str) -> None:
        self._call(self.processor.capture, key=idempotency_key, reference=reference, amount=amount)

    def void(self, *, reference: str, idempotency_key: str) -> None:
        self._call(self.processor.void, key=idempotency_key, reference=reference)

    def refund(self, *, reference: str, amount: int, idempotency_key: str) -> None:
        self._call(self.processor.refund, key=idempotency_key, reference=reference, amount=amount)

    def lookup(self, *, idempotency_key: str) -> OperationRecord | None:
        found = self.processor.lookup(key=idempotency_key)
        return OperationRecord.from_dict(found) if found else None

    def ledger(self) -> dict:
        return self.processor.ledger()
