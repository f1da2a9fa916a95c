"""Which of the films a page lists the visitor owns: the catalog's grid marks them,
through this tag, since the catalog itself knows nothing of purchases."""

import logging

from django import template
from django.db import DatabaseError

from purchase.selectors import owned_vod_ids

logger = logging.getLogger(__name__)
register = template.Library()


@register.simple_tag(takes_context=True)
def owned_among(context: template.Context, vods) -> frozenset[int]:
    """The ids of `vods` the signed-in user owns, in one query (none for a visitor).

    If the purchases cannot be read, the films are shown unmarked rather than not at all."""
    user = context["request"].user
    if not user.is_authenticated:
        return frozenset()
    ids = [vod.pk for vod in vods]
    if not ids:
        return frozenset()
    try:
        return frozenset(owned_vod_ids(user_id=user.pk, among=ids))
    except DatabaseError:
        logger.warning("purchases unreadable; catalog page without owned marks", exc_info=True)
        return frozenset()
