"""Purchase's metrics: purchases by payment method and status."""

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric

from purchase.models import Purchase
from vodstore.metrics import cached_counts


def collect() -> Iterator[Metric]:
    purchases = GaugeMetricFamily(
        "purchases", "Purchases by payment method and status.", labels=["method", "status"]
    )
    for (method, status), n in cached_counts("purchases", _count).items():
        purchases.add_metric([method, status], n)
    yield purchases


def _count() -> dict:
    rows = Purchase.objects.values_list("payment_method", "status").annotate(n=Count("id"))
    return {(method, status): n for method, status, n in rows.order_by()}
