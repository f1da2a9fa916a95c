"""Payment's metrics: the guard's state and the payments by method and status."""

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric

from payment.guard import CLOSED, HALF_OPEN, OPEN, get_guard
from payment.models import Payment
from vodstore.metrics import cached_counts


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
    payments = GaugeMetricFamily(
        "payments", "Payments by method and status.", labels=["method", "status"]
    )
    for (method, status), n in cached_counts("payments", _count).items():
        payments.add_metric([method, status], n)
    yield payments


def _count() -> dict:
    rows = Payment.objects.values_list("method", "status").annotate(n=Count("id"))
    return {(method, status): n for method, status, n in rows.order_by()}
