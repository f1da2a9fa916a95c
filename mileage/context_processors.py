"""The signed-in user's points balance on every page (the header shows it)."""

import logging

from django.db import DatabaseError
from django.http import HttpRequest

from mileage.selectors import mileage_balance

logger = logging.getLogger(__name__)


def mileage(request: HttpRequest) -> dict:
    """`mileage_balance`: the user's points, or None when they cannot be read now (a
    failing mileage table must not take every page down with it)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    try:
        balance = mileage_balance(user_id=user.id)
    except DatabaseError:
        logger.warning("mileage balance unreadable for user %s", user.id, exc_info=True)
        balance = None
    return {"mileage_balance": balance}
