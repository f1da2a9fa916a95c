"""Payment refusals, each with what the buyer reads (translated) beside the API's
English `detail`."""

from django.utils.translation import gettext_lazy, ngettext_lazy

from vodstore.errors import DomainError


class PaymentDeclined(DomainError):
    status_code = 402
    code = "payment_declined"
    default_detail = "The payment was declined."
    user_message = gettext_lazy("Your card payment was declined. Nothing was charged.")


class PaymentUnavailable(DomainError):
    """Payment cannot be taken now; the buyer should retry after `retry_after` seconds."""

    status_code = 503
    code = "payment_unavailable"
    user_message = ngettext_lazy(
        "Payment is busy, please try again in %(seconds)d second.",
        "Payment is busy, please try again in %(seconds)d seconds.",
        "seconds",
    )

    def __init__(self, detail: str | None = None, *, retry_after: int = 1) -> None:
        unit = "second" if retry_after == 1 else "seconds"
        super().__init__(
            detail or f"Payment is busy, please try again in {retry_after} {unit}.",
            retry_after=retry_after,
        )
