"""Payment refusals."""

from vodstore.errors import DomainError


class PaymentDeclined(DomainError):
    status_code = 402
    code = "payment_declined"
    default_detail = "The payment was declined."


class PaymentUnavailable(DomainError):
    status_code = 503
    code = "payment_unavailable"
    default_detail = "Payment is busy, please try again shortly."
