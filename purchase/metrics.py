"""Purchase's metrics: purchases by payment method and status, as running totals (see
`vodstore.metrics.running_totals`): a scrape reads the purchases made and cancelled in
the last minutes through their indexes (`purchase_recent`, `purchase_cancelled`),
never the whole table."""

from collections.abc import Iterator

from prometheus_client.core import Metric

from purchase.models import Purchase
from vodstore.metrics import by_method_and_status, cancellable_facts

FACTS = cancellable_facts(Purchase, made_at="created_at", method="payment_method")


def collect() -> Iterator[Metric]:
    yield by_method_and_status(
        "purchases",
        "Purchases by payment method and status.",
        FACTS,
        kept=Purchase.Status.PAID.value,
    )
