"""The per-user purchase rate limit, one definition for the API and the storefront.

The rate is `PURCHASE_RATE` ("30/min"), counted in the shared cache
(`vodstore.ratelimit`). Only purchases that were attempted count: one refused because
payment is busy or a backing service is down is given back, so a buyer who waited
the `Retry-After` they were told is not throttled for it."""

import contextlib
from collections.abc import Iterator

from django.conf import settings

from payment.exceptions import PaymentUnavailable
from purchase.exceptions import PurchaseThrottled
from vodstore.outage import OUTAGES
from vodstore.ratelimit import attempt


@contextlib.contextmanager
def purchase_attempt(*, user_id: int) -> Iterator[None]:
    """Count one purchase attempt of `user_id` for the block, or raise
    `PurchaseThrottled` (with `retry_after`)."""
    with attempt(
        scope="purchase",
        who=user_id,
        rate=settings.PURCHASE_RATE,
        refused=PurchaseThrottled,
        give_back=(PaymentUnavailable, *OUTAGES),
    ):
        yield
