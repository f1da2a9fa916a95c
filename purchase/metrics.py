"""Purchase's metrics: purchases by payment method and status."""

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric

from purchase.models import Purchase


def collect() -> Iterator[Metric]:
    purchases = GaugeMetricFamily(
        "purchases", "Purchases by payment method and status.", labels=["method", "status"]
    )
    rows = Purchase.objects.values("payment_method", "status").annotate(n=Count("id")).order_by()
    for row in rows:
        purchases.add_metric([row["payment_method"], row["status"]], row["n"])
    yield purchases
