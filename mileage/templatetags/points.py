"""Template filters of mileage: points as "5,000 points", ledger changes signed."""

from django import template

from vodstore import formatting

register = template.Library()

register.filter("points", formatting.points)


@register.filter
def signed_points(value: object) -> str:
    """A ledger change as "+1,000 points" or "-5,000 points"."""
    try:
        amount = int(value)
    except (TypeError, ValueError):
        return ""
    return ("+" if amount > 0 else "") + formatting.points(amount)
