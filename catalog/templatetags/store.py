"""Template filters of the storefront: prices shown as won."""

from django import template

from vodstore.formatting import won

register = template.Library()

register.filter("won", won)
