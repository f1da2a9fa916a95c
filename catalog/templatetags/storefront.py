"""Composing the catalog's kept fragments (`catalog.pages`) with the visitor's own
pieces: `{% marked_owned content owned %}` puts "In your library" in the slot of each
card whose film is in `owned` (the ids purchase's `owned_among` found)."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from catalog.pages import Fragment

register = template.Library()


@register.simple_tag
def marked_owned(content: Fragment, owned: frozenset[int]) -> SafeString:
    mark = format_html(
        '<span class="film-card__owned badge badge--paid">{}</span>', gettext("In your library")
    )
    return content.with_owned(owned, mark)
