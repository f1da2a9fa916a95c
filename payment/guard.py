"""The payment guard: a bulkhead, a call timeout and a circuit breaker around the
gateway calls that may be refused (a card's authorization, a cancel's refund), so that
a slow or failing gateway gets a fast, honest "try again in N seconds" instead of
hanging buyers or answering 500. Captures, voids and the reconciler's calls go around
it: finishing committed business and releasing a customer's money must not be refused
by an open breaker (`payment.services.operation_execute`).

The breaker's state lives in the Django cache: with Redis as `CACHE_URL` every worker
and every machine shares one breaker; with the local-memory default each process has
its own. Never in the database: counters written inside a purchase's transaction
would roll back with the failed purchase, and the breaker would never open.

States (`guard_status()` shows them):
- closed: calls go through; outcomes are counted in a sliding window of one-second
  buckets. Once the window holds `minimum_calls`, a failure rate or a slow-call rate
  at or above its threshold opens the breaker.
- open: every call is refused at once, with the seconds left until `open_seconds`
  have passed.
- half-open (open, wait over): `half_open_calls` trial calls go through; all of
  them succeeding closes the breaker with a fresh window, any failing reopens it.

Every transition is made once per generation ("epoch") of the state, by whichever
worker wins `cache.add` on the transition's key; the others see the new state.
"""

import contextlib
import contextvars
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from prometheus_client import Counter

from payment.exceptions import PaymentUnavailable
from payment.gateway import GatewayDeclined, GatewayError
from vodstore.cache import count
from vodstore.metrics import registry

logger = logging.getLogger(__name__)

T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STATE_KEY = "payment-guard:state"
KEY_TTL = 3600  # state and counters expire if the store stops guarding anything


GATEWAY_CALLS = Counter(
    "payment_gateway_calls",
    "Gateway calls through the guard of this process, by outcome.",
    ["outcome"],
    registry=registry,
)


class GuardRefused(PaymentUnavailable):
    """The guard refused to call the gateway (open breaker or full bulkhead)."""


@dataclass(frozen=True)
class GuardConfig:
    max_concurrent: int
    call_timeout: float
    slow_call_seconds: float
    failure_rate: float
    slow_call_rate: float
    minimum_calls: int
    window_seconds: int
    open_seconds: float
    half_open_calls: int

    @classmethod
    def from_settings(cls) -> "GuardConfig":
        return cls(**{k.lower(): v for k, v in settings.PAYMENT_GUARD.items()})


@dataclass(frozen=True)
class Permit:
    epoch: int
    trial: bool


@dataclass(frozen=True)
class GuardStatus:
    state: str
    retry_after: int
    window_calls: int
    failure_rate: float
    slow_call_rate: float
    in_flight: int
    epoch: int


class CircuitBreaker:
    """A sliding-window circuit breaker whose state is kept in the Django cache."""

    def __init__(self, config: GuardConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock

    # -- state -----------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return cache.get(STATE_KEY) or {"state": CLOSED, "epoch": 0, "until": 0.0}

    def _transition(self, epoch: int, new_state: str, reason: str) -> None:
        """Move from generation `epoch` to `new_state`, once, whoever gets here first."""
        if not cache.add(f"payment-guard:{epoch}:transition", 1, KEY_TTL):
            return
        until = self.clock() + self.config.open_seconds if new_state == OPEN else 0.0
        cache.set(STATE_KEY, {"state": new_state, "epoch": epoch + 1, "until": until}, KEY_TTL)
        log = logger.warning if new_state == OPEN else logger.info
        log("payment guard: %s (%s)", "opened" if new_state == OPEN else "closed", reason)

    def _incr(self, key: str) -> int:
        return count(key, KEY_TTL)

    def status(self) -> GuardStatus:
        state = self._state()
        now = self.clock()
        calls, failures, slow = self._window(state["epoch"], now)
        name, retry_after = state["state"], 0
        if name == OPEN:
            retry_after = max(0, math.ceil(state["until"] - now))
            name = OPEN if retry_after else HALF_OPEN
        return GuardStatus(
            state=name,
            retry_after=retry_after,
            window_calls=calls,
            failure_rate=failures / calls if calls else 0.0,
            slow_call_rate=slow / calls if calls else 0.0,
            in_flight=0,
            epoch=state["epoch"],
        )

    # -- the window ------------------------------------------------------------------
    def _bucket_key(self, epoch: int, second: int, kind: str) -> str:
        return f"payment-guard:{epoch}:{second}:{kind}"

    def _window(self, epoch: int, now: float) -> tuple[int, int, int]:
        current = int(now)
        seconds = range(current - self.config.window_seconds + 1, current + 1)
        keys = {
            kind: [self._bucket_key(epoch, s, kind) for s in seconds]
            for kind in ("calls", "failures", "slow")
        }
        found = cache.get_many([k for ks in keys.values() for k in ks])
        total = {kind: sum(found.get(k, 0) for k in ks) for kind, ks in keys.items()}
        return total["calls"], total["failures"], total["slow"]

    # -- the protocol ----------------------------------------------------------------
    def refuse_if_open(self) -> None:
        """Raise `GuardRefused` while the breaker is open (takes no trial permit)."""
        state = self._state()
        if state["state"] != CLOSED and (wait := state["until"] - self.clock()) > 0:
            raise GuardRefused(retry_after=math.ceil(wait))

    def acquire(self) -> Permit:
        """A permit to call the gateway, or `GuardRefused` with the seconds to wait."""
        state = self._state()
        if state["state"] == CLOSED:
            return Permit(epoch=state["epoch"], trial=False)
        wait = state["until"] - self.clock()
        if wait > 0:
            raise GuardRefused(retry_after=math.ceil(wait))
        trials = self._incr(f"payment-guard:{state['epoch']}:trials")
        if trials > self.config.half_open_calls:
            raise GuardRefused(retry_after=1)  # the trial calls are under way
        return Permit(epoch=state["epoch"], trial=True)

    def record(self, permit: Permit, *, failed: bool, seconds: float) -> None:
        """Count one call's outcome; open or close the breaker when it is time."""
        slow = seconds >= self.config.slow_call_seconds
        if permit.trial:
            if failed or slow:
                self._transition(permit.epoch, OPEN, "a trial call failed")
            elif self._incr(f"payment-guard:{permit.epoch}:trial-ok") >= (
                self.config.half_open_calls
            ):
                self._transition(permit.epoch, CLOSED, "trial calls succeeded")
            return
        second = int(self.clock())
        self._incr(self._bucket_key(permit.epoch, second, "calls"))
        if failed:
            self._incr(self._bucket_key(permit.epoch, second, "failures"))
        if slow:
            self._incr(self._bucket_key(permit.epoch, second, "slow"))
        if failed or slow:  # only a bad outcome can push a rate over its threshold
            self._maybe_open(permit.epoch)

    def give_back(self, permit: Permit) -> None:
        """Return a trial permit that never reached the gateway."""
        if permit.trial:
            with contextlib.suppress(ValueError):  # expired: nothing to give back
                cache.decr(f"payment-guard:{permit.epoch}:trials")

    def _maybe_open(self, epoch: int) -> None:
        calls, failures, slow = self._window(epoch, self.clock())
        if calls < self.config.minimum_calls:
            return
        if failures / calls >= self.config.failure_rate:
            self._transition(epoch, OPEN, f"{failures}/{calls} calls failed")
        elif slow / calls >= self.config.slow_call_rate:
            self._transition(epoch, OPEN, f"{slow}/{calls} calls were slow")


class PaymentGuard:
    """Bulkhead + timeout + breaker. `call(fn)` runs `fn` under all three."""

    def __init__(self, config: GuardConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.breaker = CircuitBreaker(config, clock)
        self.clock = clock
        self._slots = threading.BoundedSemaphore(config.max_concurrent)
        self._in_flight = 0
        self._lock = threading.Lock()
        # One thread per slot: a call that overruns its timeout keeps its slot (and so
        # counts against the bulkhead) until it really returns.
        self._pool = ThreadPoolExecutor(config.max_concurrent, thread_name_prefix="gateway")

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def status(self) -> GuardStatus:
        status = self.breaker.status()
        return GuardStatus(**{**status.__dict__, "in_flight": self._in_flight})

    def refuse_if_open(self) -> None:
        """Raise `GuardRefused` while the breaker is open, before any work is done."""
        try:
            self.breaker.refuse_if_open()
        except GuardRefused:
            GATEWAY_CALLS.labels("refused_open").inc()
            raise
        except Exception as exc:
            raise _state_unknown(exc) from exc

    def call(self, fn: Callable[[], T], *, on_late_result: Callable[[T], None] | None = None) -> T:
        """Call the gateway through the guard.

        Raises `GuardRefused` (bulkhead full, breaker open), `PaymentUnavailable`
        (the call failed or timed out) or `GatewayDeclined` (a business outcome,
        counted as a healthy call). A result that arrives after the timeout is handed
        to `on_late_result` (to void a charge nobody will record)."""
        try:
            permit = self.breaker.acquire()
        except GuardRefused:
            GATEWAY_CALLS.labels("refused_open").inc()
            raise
        except Exception as exc:
            raise _state_unknown(exc) from exc
        if not self._slots.acquire(blocking=False):
            self.breaker.give_back(permit)
            GATEWAY_CALLS.labels("refused_bulkhead").inc()
            raise GuardRefused(retry_after=1)
        with self._lock:
            self._in_flight += 1
        started = self.clock()
        # in the caller's context: the call's spans stay in the request's trace
        future = self._pool.submit(contextvars.copy_context().run, fn)
        future.add_done_callback(self._release)
        try:
            result = future.result(timeout=self.config.call_timeout)
        except FutureTimeout:
            if on_late_result is not None:
                future.add_done_callback(lambda f: _late(f, on_late_result))
            self._outcome(permit, started, "timeout")
            raise PaymentUnavailable(retry_after=1) from None
        except GatewayDeclined:
            self._outcome(permit, started, "declined")
            raise
        except GatewayError as exc:
            self._outcome(permit, started, "failure")
            raise PaymentUnavailable(retry_after=1) from exc
        self._outcome(permit, started, "success")
        return result

    def _outcome(self, permit: Permit, started: float, outcome: str) -> None:
        GATEWAY_CALLS.labels(outcome).inc()
        # a decline is the card holder's business, not a sign of a failing gateway
        failed = outcome in ("timeout", "failure")
        try:
            self.breaker.record(permit, failed=failed, seconds=self.clock() - started)
        except Exception:
            # The call's outcome stands (a charge made is a charge made): losing one
            # count of the breaker's window is the lesser harm.
            logger.warning("payment guard: could not count a call (cache down?)", exc_info=True)

    def _release(self, _future) -> None:
        with self._lock:
            self._in_flight -= 1
        self._slots.release()


def _state_unknown(exc: Exception) -> GuardRefused:
    """The breaker's shared state cannot be read (Redis down): refuse the call rather
    than let every worker hammer a gateway it cannot watch."""
    logger.warning("payment guard: state unavailable (%r); refusing", exc)
    GATEWAY_CALLS.labels("refused_unknown").inc()
    return GuardRefused(retry_after=5)


def _late(future, handler: Callable[[Any], None]) -> None:
    if future.exception() is None:
        try:
            handler(future.result())
        except Exception:
            logger.exception("payment guard: could not handle a late gateway result")


_guard: PaymentGuard | None = None
_guard_lock = threading.Lock()


def get_guard() -> PaymentGuard:
    """This process's guard (its bulkhead is per process; its breaker is shared)."""
    global _guard
    with _guard_lock:
        if _guard is None:
            _guard = PaymentGuard(GuardConfig.from_settings())
        return _guard


def reset_guard(guard: PaymentGuard | None = None) -> None:
    """Replace this process's guard (tests, or after changing settings)."""
    global _guard
    with _guard_lock:
        _guard = guard
