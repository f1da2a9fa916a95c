"""The shared words in templates: `{% payment_methods as methods %}`, then
`{% if purchase.payment_method == methods.MILEAGE %}` rather than a string literal."""

from django import template

from vodstore.vocabulary import PaymentMethod

register = template.Library()


@register.simple_tag
def payment_methods() -> type[PaymentMethod]:
    return PaymentMethod
