"""The payment guard: breaker states on a fake clock, bulkhead, timeout, declines."""

import threading

import pytest

from payment.exceptions import PaymentUnavailable
from payment.gateway import GatewayDeclined, GatewayError
from payment.guard import GuardConfig, GuardRefused, PaymentGuard

CONFIG = GuardConfig(
    max_concurrent=3,
    call_timeout=5.0,
    slow_call_seconds=1.0,
    failure_rate=0.5,
    slow_call_rate=0.8,
    minimum_calls=4,
    window_seconds=10,
    open_seconds=5.0,
    half_open_calls=2,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def guard(clock) -> PaymentGuard:
    return PaymentGuard(CONFIG, clock)


def ok() -> str:
    return "ok"


def fail() -> str:
    raise GatewayError("down")


def decline() -> str:
    raise GatewayDeclined("card refused")


def slow_call(clock: FakeClock, seconds: float):
    def call() -> str:
        clock.advance(seconds)  # the fake clock moves while the "gateway" works
        return "ok"

    return call


def run(guard: PaymentGuard, fn) -> str:
    try:
        return guard.call(fn)
    except GuardRefused:
        return "refused"
    except PaymentUnavailable:
        return "failed"
    except GatewayDeclined:
        return "declined"


def test_closed_guard_passes_calls_through(guard):
    assert [run(guard, ok) for _ in range(10)] == ["ok"] * 10
    assert guard.status().state == "closed"
    assert guard.status().window_calls == 10


def test_failures_below_the_minimum_calls_do_not_open(guard):
    assert [run(guard, fail) for _ in range(3)] == ["failed"] * 3
    assert guard.status().state == "closed"


def test_closed_to_open_to_half_open_to_closed(guard, clock):
    for fn in (ok, ok, fail, fail):  # 4 calls seen, 50 % failed: opens
        run(guard, fn)
    status = guard.status()
    assert status.state == "open" and status.retry_after == 5

    # open: refused at once, without calling the gateway, with the seconds left
    calls = []
    with pytest.raises(GuardRefused) as refused:
        guard.call(lambda: calls.append(1))
    assert calls == []
    assert refused.value.extra["retry_after"] == 5
    assert refused.value.status_code == 503 and refused.value.code == "payment_unavailable"
    assert "try again in 5 seconds" in str(refused.value.detail)
    clock.advance(3)
    with pytest.raises(GuardRefused) as refused:
        guard.call(ok)
    assert refused.value.extra["retry_after"] == 2

    clock.advance(2)  # the wait is over: half-open
    assert guard.status().state == "half_open"
    assert run(guard, ok) == "ok"  # trial 1 of 2
    assert guard.status().state == "half_open"
    assert run(guard, ok) == "ok"  # trial 2 of 2 succeeds: closed, with a fresh window
    status = guard.status()
    assert status.state == "closed" and status.window_calls == 0


def test_half_open_lets_only_the_trial_calls_through(guard, clock):
    for fn in (fail, fail, fail, fail):
        run(guard, fn)
    clock.advance(5)
    entered, release = threading.Barrier(3), threading.Event()

    def blocking() -> str:
        entered.wait()
        release.wait(5)
        return "ok"

    results: list[str] = []
    trials = [
        threading.Thread(target=lambda: results.append(run(guard, blocking))) for _ in range(2)
    ]
    for t in trials:
        t.start()
    entered.wait(5)  # both trial calls are at the gateway now
    assert run(guard, ok) == "refused"  # a third buyer waits for the trials' verdict
    release.set()
    for t in trials:
        t.join()
    assert results == ["ok", "ok"]
    assert guard.status().state == "closed"


def test_half_open_to_open_on_a_failed_trial(guard, clock):
    for fn in (fail, fail, fail, fail):
        run(guard, fn)
    clock.advance(5)
    assert guard.status().state == "half_open"
    assert run(guard, fail) == "failed"
    status = guard.status()
    assert status.state == "open" and status.retry_after == 5  # a whole new wait
    assert run(guard, ok) == "refused"


def test_slow_calls_open_the_breaker(guard, clock):
    for _ in range(4):
        assert run(guard, slow_call(clock, 1.2)) == "ok"  # answered, but slowly
    assert guard.status().state == "open"


def test_a_slow_trial_reopens(guard, clock):
    for _ in range(4):
        run(guard, fail)
    clock.advance(5)
    assert run(guard, slow_call(clock, 2.0)) == "ok"
    assert guard.status().state == "open"


def test_declines_are_business_outcomes_and_never_open_it(guard):
    assert [run(guard, decline) for _ in range(20)] == ["declined"] * 20
    status = guard.status()
    assert status.state == "closed"
    assert status.window_calls == 20 and status.failure_rate == 0.0


def test_old_failures_slide_out_of_the_window(guard, clock):
    run(guard, fail)
    run(guard, fail)
    clock.advance(11)  # older than the 10 s window
    for fn in (ok, ok, fail):
        run(guard, fn)
    status = guard.status()
    assert status.window_calls == 3
    assert status.state == "closed"  # 3 calls are below the minimum of 4


def test_bulkhead_refuses_the_call_after_the_limit_at_once(guard):
    started, release = threading.Barrier(CONFIG.max_concurrent + 1), threading.Event()

    def blocking() -> str:
        started.wait()
        release.wait(5)
        return "ok"

    results: list[str] = []
    callers = [
        threading.Thread(target=lambda: results.append(run(guard, blocking)))
        for _ in range(CONFIG.max_concurrent)
    ]
    for t in callers:
        t.start()
    started.wait(5)
    assert guard.in_flight == CONFIG.max_concurrent
    calls = []
    with pytest.raises(GuardRefused) as refused:
        guard.call(lambda: calls.append(1))
    assert calls == [] and refused.value.extra["retry_after"] == 1
    release.set()
    for t in callers:
        t.join()
    assert results == ["ok"] * CONFIG.max_concurrent
    assert guard.in_flight == 0
    assert run(guard, ok) == "ok"
    assert guard.status().state == "closed"  # a full bulkhead is not a gateway failure


def test_timeout_answers_without_waiting_for_the_gateway_and_voids_a_late_charge(clock):
    guard = PaymentGuard(GuardConfig(**{**CONFIG.__dict__, "call_timeout": 0.05}), clock)
    release, late = threading.Event(), []

    def hangs() -> str:
        release.wait(5)
        return "late-charge"

    handed_over = threading.Event()

    def void(result: str) -> None:
        late.append(result)
        handed_over.set()

    with pytest.raises(PaymentUnavailable) as unavailable:
        guard.call(hangs, on_late_result=void)
    assert unavailable.value.code == "payment_unavailable"
    assert late == []
    assert guard.in_flight == 1  # the stuck call still holds its bulkhead slot
    release.set()
    assert handed_over.wait(5)
    assert late == ["late-charge"]  # handed over to be voided
    assert guard.in_flight == 0
    assert guard.status().window_calls == 1 and guard.status().failure_rate == 1.0
