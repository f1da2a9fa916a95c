"""Mileage refusals."""

from vodstore.errors import DomainError


class InsufficientMileage(DomainError):
    status_code = 402
    code = "insufficient_mileage"
    default_detail = "Not enough mileage points for a free film."
