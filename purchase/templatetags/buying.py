"""The film page's purchase actions (Buy, "Use 5,000 points", Watch), rendered into
the catalog's film page by its template: catalog itself knows nothing of purchases.
Also the "Log in or sign up to buy …" line of the log-in and sign-up pages."""

import logging
import uuid
from urllib.parse import parse_qs, urlsplit

from django import template
from django.conf import settings
from django.db import DatabaseError
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from catalog.selectors import VodNotFound, vod_get_for_sale
from mileage.selectors import mileage_balance_cached
from purchase.selectors import owned_vod_ids_cached, purchase_of_vod

logger = logging.getLogger(__name__)
register = template.Library()

# The marker a film page's address carries after a visitor pressed Buy and was sent to
# log in or sign up: back on the page, the buy box is offered again.
BUY_MARKER = "buy"


def buy_return_url(vod_id: int) -> str:
    """Where log-in or sign-up sends a visitor who pressed Buy: the film page, with the
    buy box offered again (`?buy=1`), its Buy button focused (and so in view)."""
    return f"{reverse('catalog:detail', args=[vod_id])}?{BUY_MARKER}=1"


def _asked_to_buy(request) -> bool:
    return request.GET.get(BUY_MARKER) == "1"


@register.inclusion_tag("purchase/_buy_actions.html", takes_context=True)
def buy_actions(context: template.Context, vod) -> dict:
    """Buy and points forms (each with a fresh idempotency key), or Watch when owned;
    for a visitor, Buy leads to log-in and back here.

    The points balance comes from mileage (`mileage_balance_cached`, None when it
    could not be read). If the purchases cannot be read, the film page still renders,
    saying buying is unavailable."""
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
        "return_url": buy_return_url(vod.id),
    }
    if not request.user.is_authenticated:
        return {**actions, "state": "anonymous"}
    try:
        # most films a page shows are not the visitor's: the cached set says so without
        # a query; an owned one's purchase (its date, its page) is read
        owned = None
        if vod.id in owned_vod_ids_cached(user_id=request.user.id):
            owned = purchase_of_vod(user_id=request.user.id, vod_id=vod.id)
    except DatabaseError:
        logger.warning("purchases unreadable; film page %s without buying", vod.id, exc_info=True)
        return {**actions, "state": "unavailable"}
    if owned is not None:
        return {**actions, "state": "owned", "purchase": owned}
    balance = mileage_balance_cached(user_id=request.user.id)
    return {
        **actions,
        "state": "buyable",
        "balance": balance,
        "points_allowed": balance is not None and balance >= cost,
        # back from log-in or sign-up after pressing Buy: offer it again, and say so
        "offered": _asked_to_buy(request),
    }


def _film_to_buy(next_url: str, request) -> int | None:
    """The film a `next` address returns to after Buy (`/films/5/?buy=1`), else None.
    Only a path on this site counts: `next` is whatever the visitor's address said."""
    if not next_url.startswith("/") or not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    parts = urlsplit(next_url)
    if parse_qs(parts.query).get(BUY_MARKER) != ["1"]:
        return None
    try:
        match = resolve(parts.path)
    except Resolver404:
        return None
    if match.view_name != "catalog:detail":
        return None
    return match.kwargs["pk"]


@register.inclusion_tag("purchase/_buy_intent.html", takes_context=True)
def buy_intent(context: template.Context) -> dict:
    """On the log-in and sign-up pages: "Log in or sign up to buy “Alive!”." when the
    visitor came from a film's Buy (their `next` is `buy_return_url`); nothing else."""
    request = context.get("request")
    next_url = context.get("next") or ""
    if request is None:
        return {}
    if not next_url:
        next_url = request.POST.get("next") or request.GET.get("next") or ""
    vod_id = _film_to_buy(str(next_url), request)
    if vod_id is None:
        return {}
    try:
        film = vod_get_for_sale(vod_id=vod_id)
    except (VodNotFound, DatabaseError):
        return {}
    return {"title": film.title}
