"""Payment refusals."""

from vodstore.errors import DomainError


class PaymentDeclined(DomainError):
    status_code = 402
    code = "payment_declined"
    default_detail = "The payment was declined."


class PaymentUnavailable(DomainError):
    """Payment cannot be taken now; the buyer should retry after `retry_after` seconds."""

    status_code = 503
    code = "payment_unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1) -> None:
        unit = "second" if retry_after == 1 else "seconds"
        super().__init__(
            detail or f"Payment is busy, please try again in {retry_after} {unit}.",
            retry_after=retry_after,
        )
