"""Template filters of the admin: amounts as won ("₩0" included), points and counts grouped."""

from django import template

from vodstore.admin_tools import points_amount, won_amount
from vodstore.formatting import number

register = template.Library()

register.filter("won_amount", won_amount)
register.filter("points_amount", points_amount)
register.filter("number", number)
