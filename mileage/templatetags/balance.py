"""The signed-in user's points in the site header: `{% load balance %}{% mileage_balance %}`
renders the chip (templates/mileage/_balance_chip.html), or nothing for a visitor or
when the balance cannot be read now. The page asks for it where it shows it, and gets
it from the cache (`mileage_balance_cached`): most pages run no query for it, pages
that do not show it (admin) none at all."""

from django import template

from mileage.selectors import mileage_balance_cached

register = template.Library()


@register.inclusion_tag("mileage/_balance_chip.html", takes_context=True)
def mileage_balance(context: template.Context) -> dict:
    user = getattr(context.get("request"), "user", None)
    if user is None or not user.is_authenticated:
        return {"balance": None}
    return {"balance": mileage_balance_cached(user_id=user.id)}
