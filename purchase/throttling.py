"""The per-user purchase rate limit, one definition for the API and the storefront.

The rate is `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["purchase"]` (`PURCHASE_RATE`);
both count in the same cache key, so a user has one budget however they buy."""

import math

from django.http import HttpRequest
from rest_framework.throttling import UserRateThrottle

from vodstore.errors import DomainError


class PurchaseRateThrottle(UserRateThrottle):
    """Per-user purchase rate (`PURCHASE_RATE`), counted in the shared cache."""

    scope = "purchase"

    def allow_request(self, request, view) -> bool:
        return request.method != "POST" or super().allow_request(request, view)


class PurchaseThrottled(DomainError):
    status_code = 429
    code = "throttled"
    default_detail = "Too many purchases, please try again later."


def purchase_throttle_check(*, request: HttpRequest) -> None:
    """Count a purchase attempt of the request's user, or raise `PurchaseThrottled`
    with the seconds to wait in `extra["retry_after"]`.

    DRF's throttle only reads `request.user`, `request.method` and `request.META`,
    which a plain Django request has too."""
    throttle = PurchaseRateThrottle()
    if not throttle.allow_request(request, None):
        raise PurchaseThrottled(retry_after=max(1, math.ceil(throttle.wait() or 1)))
