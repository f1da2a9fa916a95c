"""The simulated gateway: approves automatically, as the original store did, with a
configurable latency and failure and decline rates for demos and fault drills."""

import random
import threading
import time
import uuid
from collections import OrderedDict

from django.conf import settings

from payment.gateway import Authorization, GatewayDeclined, GatewayError


def _latency_range(spec: str) -> tuple[float, float]:
    low, _, high = spec.partition("-")
    low_ms = float(low or 0)
    return low_ms / 1000, float(high or low_ms) / 1000


class SimulatedGateway:
    """`PAYMENT_SIMULATED_LATENCY_MS` ("600-900"), `..._FAILURE_RATE`, `..._DECLINE_RATE`."""

    REMEMBERED_CHARGES = 10_000

    def __init__(self) -> None:
        self.latency = _latency_range(settings.PAYMENT_SIMULATED_LATENCY_MS)
        self.failure_rate = settings.PAYMENT_SIMULATED_FAILURE_RATE
        self.decline_rate = settings.PAYMENT_SIMULATED_DECLINE_RATE
        # recent charges by idempotency key, bounded so a long run does not grow forever
        self._charges: OrderedDict[str, Authorization] = OrderedDict()
        self._lock = threading.Lock()
        self._random = random.Random()  # noqa: S311 - a simulation, not security

    def _wait_and_maybe_fail(self) -> None:
        low, high = self.latency
        if high > 0:
            time.sleep(self._random.uniform(low, high))
        if self._random.random() < self.failure_rate:
            raise GatewayError("simulated gateway failure")

    def authorize(self, *, amount: int, idempotency_key: str) -> Authorization:
        with self._lock:
            if idempotency_key in self._charges:
                return self._charges[idempotency_key]
        self._wait_and_maybe_fail()
        if self._random.random() < self.decline_rate:
            raise GatewayDeclined("simulated decline")
        authorization = Authorization(reference=f"sim_{uuid.uuid4().hex}", amount=amount)
        with self._lock:
            authorization = self._charges.setdefault(idempotency_key, authorization)
            if len(self._charges) > self.REMEMBERED_CHARGES:
                self._charges.popitem(last=False)
            return authorization

    def void(self, *, reference: str) -> None:
        self._wait_and_maybe_fail()

    def refund(self, *, reference: str, amount: int) -> None:
        self._wait_and_maybe_fail()
