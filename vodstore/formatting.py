"""How the storefront writes money and points: prices as won, mileage as points."""

from django.utils.formats import number_format
from django.utils.translation import gettext, ngettext


def won(value: object) -> str:
    """A whole-KRW price as "₩12,000", or "Free" for 0; an unusable value renders empty."""
    try:
        amount = int(value)
    except (TypeError, ValueError):
        return ""
    if amount == 0:
        return gettext("Free")
    sign = "-" if amount < 0 else ""
    return f"{sign}₩{number(abs(amount))}"


def number(value: object) -> str:
    """A whole number grouped as the active language groups it ("12,345"); an unusable
    value renders empty."""
    try:
        amount = int(value)
    except (TypeError, ValueError):
        return ""
    return number_format(amount, force_grouping=True)


def points(value: object) -> str:
    """Mileage points as "5,000 points" (grouped as the active language groups)."""
    try:
        amount = int(value)
    except (TypeError, ValueError):
        return ""
    return ngettext("%(points)s point", "%(points)s points", abs(amount)) % {
        "points": number(amount)
    }
