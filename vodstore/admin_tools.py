"""Shared pieces of the Django admin: read-only model admins, and money and points
written as the storefront writes them."""

from vodstore import formatting
from vodstore.vocabulary import PaymentMethod


class ReadOnlyAdminMixin:
    """For model admins and inlines whose rows change only through services (payments,
    purchases, the ledger): staff can look, never add, edit or delete by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def won_amount(value: object) -> str:
    """An amount in won as "₩3,500"; unlike a price in the storefront, 0 is "₩0", not
    "Free"."""
    return "₩0" if value == 0 else formatting.won(value)


def points_amount(value: object, *, signed: bool = False) -> str:
    """Points as "5,000 points"; `signed` writes a ledger change as "+1,000 points"."""
    text = formatting.points(value)
    return f"+{text}" if signed and isinstance(value, int) and value > 0 else text


def paid_amount(amount: int, method: str) -> str:
    """What a purchase or payment cost: won by card, points with mileage (the stored
    amount is in the method's unit)."""
    return points_amount(amount) if method == PaymentMethod.MILEAGE else won_amount(amount)
