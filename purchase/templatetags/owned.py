"""Which of the films a page lists the visitor owns: the catalog's grid marks them,
through this tag, since the catalog itself knows nothing of purchases."""

import logging
from collections.abc import Iterable

from django import template
from django.db import DatabaseError

from purchase.selectors import owned_vod_ids_cached

logger = logging.getLogger(__name__)
register = template.Library()


@register.simple_tag(takes_context=True)
def owned_among(context: template.Context, vod_ids: Iterable[int]) -> frozenset[int]:
    """Which of the films `vod_ids` the signed-in user owns (the user's owned films
    from the cache, else one query; none for a visitor, or a page without films).

    If the purchases cannot be read, the films are shown unmarked rather than not at all."""
    user = context["request"].user
    ids = list(vod_ids)
    if not user.is_authenticated or not ids:
        return frozenset()
    try:
        return owned_vod_ids_cached(user_id=user.pk).intersection(ids)
    except DatabaseError:
        logger.warning("purchases unreadable; catalog page without owned marks", exc_info=True)
        return frozenset()
