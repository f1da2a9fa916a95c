"""Payment's metrics: the guard's state, and the payments by method and status as
running totals (see `vodstore.metrics.running_totals`): a scrape reads the payments
approved and cancelled in the last minutes through their indexes (`payment_recent`,
`payment_cancelled`), never the whole table."""

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from payment.guard import CLOSED, HALF_OPEN, OPEN, get_guard
from payment.models import Payment
from vodstore.metrics import by_method_and_status, cancellable_facts

FACTS = cancellable_facts(Payment, made_at="approved_at", method="method")


def collect() -> Iterator[Metric]:
    status = get_guard().status()
    state = GaugeMetricFamily(
        "payment_guard_state", "1 for the breaker's current state.", labels=["state"]
    )
    for name in (CLOSED, OPEN, HALF_OPEN):
        state.add_metric([name], 1.0 if status.state == name else 0.0)
    yield state
    yield GaugeMetricFamily(
        "payment_guard_retry_after_seconds",
        "Seconds until an open breaker lets trials in.",
        value=status.retry_after,
    )
    yield GaugeMetricFamily(
        "payment_guard_window_calls",
        "Calls in the breaker's sliding window.",
        value=status.window_calls,
    )
    yield GaugeMetricFamily(
        "payment_guard_failure_rate",
        "Failed share of the window's calls.",
        value=status.failure_rate,
    )
    yield GaugeMetricFamily(
        "payment_guard_slow_call_rate",
        "Slow share of the window's calls.",
        value=status.slow_call_rate,
    )
    yield GaugeMetricFamily(
        "payment_guard_in_flight",
        "Gateway calls in flight in this process.",
        value=status.in_flight,
    )
    yield by_method_and_status(
        "payments",
        "Payments by method and status.",
        FACTS,
        kept=Payment.Status.APPROVED.value,
    )
