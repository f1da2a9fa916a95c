"""The films behind a points ledger's entries, for the mileage page's template: mileage
keeps only a purchase's id (it imports no other app), purchase knows its film's title.
The page loads this library by name, so neither app imports the other."""

import logging

from django import template
from django.db import DatabaseError

from purchase.models import Purchase

logger = logging.getLogger(__name__)
register = template.Library()


@register.simple_tag(takes_context=True)
def ledger_rows(context: template.Context, entries) -> list[dict]:
    """Each entry with the title of the film its purchase bought (`title`, None when it
    cannot be told), in one query for the page. Only the signed-in user's purchases
    are looked up; when purchases cannot be read, the ledger still shows, untitled."""
    entries = list(entries)
    purchase_ids = {entry.purchase_id for entry in entries}
    user_id = context["request"].user.id
    titles: dict[int, str] = {}
    if purchase_ids:
        try:
            titles = dict(
                Purchase.objects.filter(user_id=user_id, pk__in=purchase_ids).values_list(
                    "id", "vod_title"
                )
            )
        except DatabaseError:
            logger.warning("purchases unreadable; ledger without titles", exc_info=True)
    return [{"entry": entry, "title": titles.get(entry.purchase_id)} for entry in entries]
