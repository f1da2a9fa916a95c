"""The film page's purchase actions (Buy, "Use 5000 points", Watch), rendered into
the catalog's film page by its template: catalog itself knows nothing of purchases."""

import logging
import uuid

from django import template
from django.conf import settings
from django.db import DatabaseError

from purchase.selectors import purchase_of_vod

logger = logging.getLogger(__name__)
register = template.Library()


@register.inclusion_tag("purchase/_buy_actions.html", takes_context=True)
def buy_actions(context: template.Context, vod) -> dict:
    """Buy and points forms (each with a fresh idempotency key), or Watch when owned.

    The points balance comes from the mileage context processor (`mileage_balance`,
    None when it could not be read). If the purchases cannot be read, the film page
    still renders, saying buying is unavailable."""
    request = context["request"]
    cost = settings.MILEAGE_FREE_VOD_COST
    actions = {
        "vod": vod,
        "request": request,
        "cost": cost,
        "earn": settings.MILEAGE_EARN_PER_PURCHASE,
        "card_key": uuid.uuid4(),
        "points_key": uuid.uuid4(),
        "offer_points": vod.price > 0,
        "refund_days": settings.REFUND_WINDOW_DAYS,
        "refund_minutes": max(1, settings.REFUND_WATCHED_SECONDS // 60),
    }
    if not request.user.is_authenticated:
        return {**actions, "state": "anonymous"}
    try:
        owned = purchase_of_vod(user_id=request.user.id, vod_id=vod.id)
    except DatabaseError:
        logger.warning("purchases unreadable; film page %s without buying", vod.id, exc_info=True)
        return {**actions, "state": "unavailable"}
    if owned is not None:
        return {**actions, "state": "owned", "purchase": owned}
    balance = context.get("mileage_balance")
    return {
        **actions,
        "state": "buyable",
        "balance": balance,
        "points_allowed": balance is not None and balance >= cost,
    }
