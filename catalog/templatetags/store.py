"""Template filters of the storefront: prices shown as won."""

from django import template
from django.utils.translation import gettext

register = template.Library()


@register.filter
def won(value: object) -> str:
    """A whole-KRW price as "₩12,000", or "Free" for 0; an unusable value renders empty."""
    try:
        amount = int(value)
    except (TypeError, ValueError):
        return ""
    if amount == 0:
        return gettext("Free")
    sign = "-" if amount < 0 else ""
    return f"{sign}₩{abs(amount):,}"
