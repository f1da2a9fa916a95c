"""Purchase refusals, each with what the buyer reads (translated) beside the API's
English `detail`."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext, gettext_lazy, ngettext, ngettext_lazy

from vodstore.errors import DomainError
from vodstore.ratelimit import RateLimited


class VodNotAvailable(DomainError):
    status_code = 400
    code = "vod_not_available"
    default_detail = "No film on sale has this id."
    user_message = gettext_lazy("This film is not available for sale.")


class AlreadyOwned(DomainError):
    status_code = 409
    code = "already_owned"
    default_detail = "You already own this film."
    user_message = gettext_lazy("You already own this film.")


class RefundRefusal(models.TextChoices):
    """Why a purchase can no longer be cancelled (`NotCancellable`'s `reason`)."""

    NOT_PAID = "not_paid"
    WINDOW_PASSED = "refund_window_passed"
    WATCHED = "watched"


def not_refundable_message(reason: str) -> str:
    """Why the owner can no longer cancel a purchase (a `reason` of `NotCancellable`,
    from `services.refund_rules`), as the storefront says it."""
    if reason == RefundRefusal.WINDOW_PASSED:
        return ngettext(
            "This purchase can no longer be refunded: the %(days)d-day refund window has passed.",
            "This purchase can no longer be refunded: the %(days)d-day refund window has passed.",
            settings.REFUND_WINDOW_DAYS,
        ) % {"days": settings.REFUND_WINDOW_DAYS}
    if reason == RefundRefusal.WATCHED:
        minutes = max(1, settings.REFUND_WATCHED_SECONDS // 60)
        return ngettext(
            "This purchase can no longer be refunded: the film has played past %(minutes)d minute.",
            "This purchase can no longer be refunded: the film has played past %(minutes)d "
            "minutes.",
            minutes,
        ) % {"minutes": minutes}
    return gettext("This purchase cannot be cancelled: only a paid purchase can be.")


class NotCancellable(DomainError):
    """`reason`: a `RefundRefusal`."""

    status_code = 409
    code = "not_cancellable"
    default_detail = "Only a paid purchase can be cancelled."

    def message(self) -> str:
        return not_refundable_message(str(self.extra.get("reason", RefundRefusal.NOT_PAID)))


class PurchaseNotFound(DomainError):
    status_code = 404
    code = "not_found"
    default_detail = "Not found."


class IdempotencyKeyReused(DomainError):
    status_code = 422
    code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was already used with a different request."
    # the storefront's key is its buy form's
    user_message = gettext_lazy(
        "This form was already used for another purchase. Please try again."
    )


class IdempotencyInProgress(DomainError):
    status_code = 409
    code = "idempotency_in_progress"
    default_detail = "A request with this Idempotency-Key is still being processed."
    user_message = gettext_lazy(
        "Your purchase is still being processed. Please check again in a moment."
    )


class PurchaseThrottled(RateLimited):
    """Too many purchase attempts by one user (`PURCHASE_RATE`); `retry_after`."""

    default_detail = "Too many purchases, please try again later."
    user_message = ngettext_lazy(
        "Too many purchases, please try again in %(seconds)d second.",
        "Too many purchases, please try again in %(seconds)d seconds.",
        "seconds",
    )
