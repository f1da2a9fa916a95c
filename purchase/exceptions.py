"""Purchase refusals."""

from vodstore.errors import DomainError


class VodNotAvailable(DomainError):
    status_code = 400
    code = "vod_not_available"
    default_detail = "No film on sale has this id."


class AlreadyOwned(DomainError):
    status_code = 409
    code = "already_owned"
    default_detail = "You already own this film."


class NotCancellable(DomainError):
    status_code = 409
    code = "not_cancellable"
    default_detail = "Only a paid purchase can be cancelled."


class PurchaseNotFound(DomainError):
    status_code = 404
    code = "not_found"
    default_detail = "Not found."


class IdempotencyKeyReused(DomainError):
    status_code = 422
    code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was already used with a different request."


class IdempotencyInProgress(DomainError):
    status_code = 409
    code = "idempotency_in_progress"
    default_detail = "A request with this Idempotency-Key is still being processed."
