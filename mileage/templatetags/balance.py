"""The signed-in user's points in the site header: `{% load balance %}{% mileage_balance %}`
gives the chip (templates/mileage/_balance_chip.html), or nothing for a visitor or
when the balance cannot be read now. The page asks for it where it shows it, and gets
it from the cache (`mileage_balance_cached`): most pages run no query for it, pages
that do not show it (admin) none at all. The chip is rendered once per process and
language (`vodstore.chrome`), with the figure put in."""

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from mileage.selectors import mileage_balance_cached
from vodstore import formatting
from vodstore.chrome import filled, kept

register = template.Library()


@register.simple_tag(takes_context=True)
def mileage_balance(context: template.Context) -> SafeString:
    user = getattr(context.get("request"), "user", None)
    if user is None or not user.is_authenticated:
        return mark_safe("")
    balance = mileage_balance_cached(user_id=user.id)
    if balance is None:
        return mark_safe("")
    chip = kept("mileage/_balance_chip.html", get_language() or "")
    return filled(chip, points=escape(formatting.points(balance)))
