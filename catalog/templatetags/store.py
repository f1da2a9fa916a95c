"""Template filters of the storefront: prices shown as won, counts grouped."""

from django import template

from vodstore.formatting import number, won

register = template.Library()

register.filter("won", won)
register.filter("number", number)
