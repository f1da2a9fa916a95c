"""The per-user purchase rate limit, one definition for the API and the storefront.

The rate is `PURCHASE_RATE` ("30/min"): at most that many purchase attempts per user
in each window, counted with one atomic increment in the shared cache (a read, then a
write would let a concurrent burst through). Only purchases that were attempted
count: one refused because payment is busy or a backing service is down is given
back, so a buyer who waited the `Retry-After` they were told is not throttled for it."""

import contextlib
import math
import time
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache

from payment.exceptions import PaymentUnavailable
from vodstore.cache import count
from vodstore.errors import DomainError
from vodstore.outage import is_outage

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class PurchaseThrottled(DomainError):
    status_code = 429
    code = "throttled"
    default_detail = "Too many purchases, please try again later."


def parse_rate(rate: str) -> tuple[int, int]:
    """ "30/min" -> (30, 60): attempts, and the window in seconds."""
    number, _, period = rate.partition("/")
    return int(number), PERIODS[period.strip()[:1]]


def _rate() -> tuple[int, int]:
    return parse_rate(settings.PURCHASE_RATE)


@contextlib.contextmanager
def purchase_attempt(*, user_id: int) -> Iterator[None]:
    """Count one purchase attempt of `user_id` for the block, or raise
    `PurchaseThrottled` (with `retry_after`). An attempt that ends in
    `PaymentUnavailable` or an outage is given back."""
    limit, window = _rate()
    now = time.time()
    key = f"purchase-rate:{user_id}:{int(now // window)}"
    if count(key, window) > limit:
        _give_back(key)
        retry_after = max(1, math.ceil(window - now % window))
        raise PurchaseThrottled(retry_after=retry_after)
    try:
        yield
    except BaseException as exc:
        if isinstance(exc, PaymentUnavailable) or is_outage(exc):
            _give_back(key)
        raise


def _give_back(key: str) -> None:
    with contextlib.suppress(Exception):  # expired, or the cache is what is down
        cache.decr(key)
