"""Storefront pages of purchase: buy (card or points), watch, my library, my purchases
and cancel. They call the same services as the API and turn refusals into messages
shown on the page the user was on."""

import time
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_http_methods

from catalog.selectors import vod_get, vod_list
from payment.selectors import payments_by_purchase
from purchase import idempotency, selectors, services
from purchase.exceptions import IdempotencyInProgress
from purchase.models import Purchase
from purchase.throttling import purchase_attempt
from vodstore.errors import DomainError
from vodstore.formatting import points, won

PAGE_SIZE = 20
LIBRARY_PAGE_SIZE = 24
# A second click arrives while the first is still paying: wait for its answer (and
# replay it) rather than tell the buyer to come back. Longer than the guard's call
# timeout, short enough not to tie up a worker.
IN_PROGRESS_WAIT_SECONDS = 5.0
IN_PROGRESS_POLL_SECONDS = 0.2


def refusal_message(code: str, extra: dict) -> str:
    """What the buyer reads for a refusal, by its code (the same codes as the API)."""
    seconds = int(extra.get("retry_after") or 1)
    if code == "already_owned":
        return gettext("You already own this film.")
    if code == "insufficient_mileage":
        return gettext(
            "Not enough points: a free film needs %(required)s and you have %(balance)s."
        ) % {
            "required": points(extra.get("required", settings.MILEAGE_FREE_VOD_COST)),
            "balance": points(extra.get("balance", 0)),
        }
    if code == "payment_declined":
        return gettext("Your card payment was declined. Nothing was charged.")
    if code == "payment_unavailable":
        return ngettext(
            "Payment is busy, please try again in %(seconds)d second.",
            "Payment is busy, please try again in %(seconds)d seconds.",
            seconds,
        ) % {"seconds": seconds}
    if code == "throttled":
        return ngettext(
            "Too many purchases, please try again in %(seconds)d second.",
            "Too many purchases, please try again in %(seconds)d seconds.",
            seconds,
        ) % {"seconds": seconds}
    if code == "vod_not_available":
        return gettext("This film is not available for sale.")
    if code == "not_cancellable":
        return gettext("This purchase cannot be cancelled: only a paid purchase can be.")
    if code == "idempotency_in_progress":
        return gettext("Your purchase is still being processed. Please check again in a moment.")
    if code == "idempotency_key_reused":
        return gettext("This form was already used for another purchase. Please try again.")
    return gettext("Your request could not be completed. Please try again.")


def _bought_message(body: dict) -> str:
    if body["payment_method"] == "mileage":
        text = gettext("You got “%(title)s” for %(points)s. Enjoy the film!")
        return text % {"title": body["vod_title"], "points": points(body["amount"])}
    text = gettext("You bought “%(title)s” for %(price)s. Enjoy the film!")
    return text % {"title": body["vod_title"], "price": won(body["amount"])}


def _cancelled_message(purchase: Purchase) -> str:
    values = {
        "title": purchase.vod_title,
        "price": won(purchase.amount),
        "points": points(
            purchase.amount
            if purchase.payment_method == "mileage"
            else settings.MILEAGE_EARN_PER_PURCHASE
        ),
    }
    if purchase.payment_method == "mileage":
        return gettext("Cancelled “%(title)s”: your %(points)s will be returned.") % values
    if purchase.amount:
        return (
            gettext(
                "Cancelled “%(title)s”: %(price)s will be refunded to your card and the "
                "%(points)s it earned taken back."
            )
            % values
        )
    return gettext("Cancelled “%(title)s”: the %(points)s it earned will be taken back.") % values


def _purchase_body(purchase: Purchase) -> dict:
    """What a storefront purchase stores for its idempotency key (and replays)."""
    return {
        "id": purchase.id,
        "vod": purchase.vod_id,
        "vod_title": purchase.vod_title,
        "payment_method": purchase.payment_method,
        "amount": purchase.amount,
    }


def _valid_key(key: str) -> bool:
    try:
        uuid.UUID(key)
    except ValueError:
        return False
    return True


def _run_once_waiting(**kwargs) -> idempotency.Outcome:
    deadline = time.monotonic() + IN_PROGRESS_WAIT_SECONDS
    while True:
        try:
            return idempotency.run_once(**kwargs)
        except IdempotencyInProgress:
            if time.monotonic() >= deadline:
                raise
            time.sleep(IN_PROGRESS_POLL_SECONDS)


def _refused(request: HttpRequest, *, code: str, extra: dict, film_url: str) -> HttpResponse:
    messages.error(request, refusal_message(code, extra))
    # a film no longer on sale has no page to go back to
    return redirect("catalog:list" if code == "vod_not_available" else film_url)


@require_http_methods(["GET", "POST"])
def buy_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Buy a film from its page. Each rendered buy form carries its own idempotency
    key, so a double click buys once and both answers show the same outcome."""
    film_url = reverse("catalog:detail", args=[pk])
    if request.method != "POST":
        return redirect(film_url)
    if not request.user.is_authenticated:
        # back to the film page after logging in, not to this POST-only address
        return redirect_to_login(film_url)
    method = request.POST.get("payment_method", "card")
    key = request.POST.get("idempotency_key", "")
    if method not in services.PAYMENT_METHODS or not _valid_key(key):
        messages.error(request, gettext("This form has expired. Please try again."))
        return redirect(film_url)
    user_id = request.user.id

    def buy(claim_id: int) -> dict:
        result = services.purchase_create(
            user_id=user_id,
            vod_id=pk,
            payment_method=method,
            idempotency_key_id=claim_id,
            request_key=idempotency.request_key(user_id=user_id, key=key),
        )
        return _purchase_body(result.purchase)

    try:
        with purchase_attempt(user_id=user_id):
            outcome = _run_once_waiting(
                user_id=user_id,
                key=key,
                request_fingerprint=idempotency.fingerprint({"vod": pk, "payment_method": method}),
                action=buy,
                describe_purchase=lambda purchase_id: _purchase_body(
                    selectors.purchase_get(user_id=user_id, purchase_id=purchase_id)
                ),
            )
    except DomainError as exc:
        return _refused(request, code=exc.code, extra=exc.extra, film_url=film_url)
    if outcome.status != 201:  # a refusal of the first click, replayed
        code = outcome.body.get("code", "")
        return _refused(request, code=code, extra=outcome.body, film_url=film_url)
    messages.success(request, _bought_message(outcome.body))
    return redirect(film_url)


@login_required
def watch_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The player page of an owned film; anyone else is sent to the film's page."""
    purchase = selectors.purchase_of_vod(user_id=request.user.id, vod_id=pk)
    if purchase is None:
        messages.info(request, gettext("Buy this film to watch it."))
        return redirect("catalog:detail", pk=pk)
    try:
        vod = vod_get(vod_id=pk)
    except ObjectDoesNotExist:
        raise Http404("This film is no longer available.") from None
    return render(request, "purchase/watch.html", {"vod": vod, "purchase": purchase})


@login_required
def library_view(request: HttpRequest) -> HttpResponse:
    """The films the user owns, most recently bought first."""
    owned = selectors.purchase_list(user_id=request.user.id, status=Purchase.Status.PAID)
    page = Paginator(owned, LIBRARY_PAGE_SIZE).get_page(request.GET.get("page"))
    # one query for the page's films; a film withdrawn from sale is missing here
    films = vod_list().in_bulk([p.vod_id for p in page])
    items = [{"purchase": p, "vod": films.get(p.vod_id)} for p in page]
    return render(request, "purchase/library.html", {"page_obj": page, "items": items})


@login_required
def purchase_list_view(request: HttpRequest) -> HttpResponse:
    """The user's purchases, newest first, with Cancel for the paid ones."""
    purchases = selectors.purchase_list(user_id=request.user.id)
    page = Paginator(purchases, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "purchase/purchase_list.html", {"page_obj": page, "purchases": page})


def _own_purchase(request: HttpRequest, pk: int) -> Purchase:
    try:
        return selectors.purchase_get(user_id=request.user.id, purchase_id=pk)
    except Purchase.DoesNotExist:
        # someone else's purchase looks exactly like a missing one
        raise Http404("No such purchase.") from None


@login_required
def purchase_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One purchase with its payment."""
    purchase = _own_purchase(request, pk)
    payment = payments_by_purchase(purchase_ids=[purchase.id]).get(purchase.id)
    return render(
        request, "purchase/purchase_detail.html", {"purchase": purchase, "payment": payment}
    )


@login_required
@require_http_methods(["GET", "POST"])
def purchase_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST cancels (payment refunded, points reversed)."""
    purchase = _own_purchase(request, pk)
    if request.method == "GET":
        if purchase.status != Purchase.Status.PAID:
            messages.error(request, refusal_message("not_cancellable", {}))
            return redirect("purchase:detail", pk=pk)
        return render(
            request,
            "purchase/purchase_cancel.html",
            {"purchase": purchase, "earned": settings.MILEAGE_EARN_PER_PURCHASE},
        )
    try:
        services.purchase_cancel(user_id=request.user.id, purchase_id=pk)
    except DomainError as exc:
        messages.error(request, refusal_message(exc.code, exc.extra))
        return redirect("purchase:detail", pk=pk)
    messages.success(request, _cancelled_message(purchase))
    return redirect("purchase:list")
