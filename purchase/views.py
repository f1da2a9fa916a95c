"""Storefront pages of purchase: buy (card or points), watch, my library, my purchases
and cancel. They call the same services as the API and turn refusals into messages
shown on the page the user was on."""

import uuid
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.signing import BadSignature
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import get_current_timezone_name, localtime
from django.utils.translation import get_language, gettext
from django.views.decorators.http import require_GET, require_http_methods

from catalog.selectors import VodNotFound, vod_info, vod_media, vods_by_ids
from payment.selectors import payment_list
from purchase import selectors, services
from purchase.exceptions import RefundRefusal, VodNotAvailable, not_refundable_message
from purchase.models import Purchase
from purchase.templatetags.buying import buy_return_url
from purchase.templatetags.watching import timecode, watched_share
from vodstore.cache import rendered
from vodstore.errors import DomainError
from vodstore.formatting import points, won
from vodstore.paging import page_of
from vodstore.streaming import media_response, media_token, read_media_token, ttl_seconds
from vodstore.vocabulary import PaymentMethod

PAGE_SIZE = 20
LIBRARY_PAGE_SIZE = 24
CONTINUE_WATCHING = 6  # films in the library's "Continue watching" row
# A second click arrives while the first is still paying: wait for its answer (and
# replay it) rather than tell the buyer to come back. Longer than the guard's call
# timeout, short enough not to tie up a worker.
IN_PROGRESS_WAIT_SECONDS = 5.0


def _bought_message(body: dict) -> str:
    if body["payment_method"] == PaymentMethod.MILEAGE:
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
            if purchase.payment_method == PaymentMethod.MILEAGE
            else settings.MILEAGE_EARN_PER_PURCHASE
        ),
    }
    if purchase.payment_method == PaymentMethod.MILEAGE:
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


def _purchase_body(result: services.PurchaseResult) -> dict:
    """What a storefront purchase stores for its idempotency key (and replays)."""
    purchase = result.purchase
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


def with_refund_terms(purchase: Purchase) -> Purchase:
    """`purchase` with what the templates say of its refund: `refund_reason` (None while
    its owner may still cancel it; one of `refund_reasons`) and `refund_until` (the
    window's end)."""
    purchase.refund_reason = services.refund_rules(purchase)
    purchase.refund_reasons = RefundRefusal
    purchase.refund_until = purchase.created_at + timedelta(days=settings.REFUND_WINDOW_DAYS)
    purchase.refund_minutes = max(1, settings.REFUND_WATCHED_SECONDS // 60)
    return purchase


def _refused(request: HttpRequest, refusal: DomainError, *, film_url: str) -> HttpResponse:
    messages.error(request, refusal.message())
    # a film no longer on sale has no page to go back to
    return redirect("catalog:list" if isinstance(refusal, VodNotAvailable) else film_url)


@require_http_methods(["GET", "POST"])
def buy_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Buy a film from its page. Each rendered buy form carries its own idempotency
    key, so a double click buys once and both answers show the same outcome."""
    film_url = reverse("catalog:detail", args=[pk])
    if request.method != "POST":
        return redirect(film_url)
    if not request.user.is_authenticated:
        # back to the film page after logging in (with Buy offered again), not to this
        # POST-only address
        return redirect_to_login(buy_return_url(pk))
    method = request.POST.get("payment_method", PaymentMethod.CARD)
    key = request.POST.get("idempotency_key", "")
    if method not in PaymentMethod.values or not _valid_key(key):
        messages.error(request, gettext("This form has expired. Please try again."))
        return redirect(film_url)
    try:
        outcome = services.purchase_buy(
            user_id=request.user.id,
            vod_id=pk,
            payment_method=method,
            idempotency_key=key,
            describe=_purchase_body,
            wait_seconds=IN_PROGRESS_WAIT_SECONDS,
        )
    except DomainError as exc:
        return _refused(request, exc, film_url=film_url)
    if outcome.refusal is not None:  # a refusal of the first click, replayed
        return _refused(request, outcome.refusal, film_url=film_url)
    messages.success(request, _bought_message(outcome.body))
    return redirect(film_url)


@login_required
def watch_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The player page of an owned film; anyone else is sent to the film's page. The
    video's address is signed for this user and film and lives MEDIA_URL_TTL_SECONDS
    (the page's script asks `watch_source_view` for a new one when it has run out); the
    film starts where its owner left it. A film retired from sale stays watchable by
    its owners."""
    purchase = selectors.purchase_of_vod(user_id=request.user.id, vod_id=pk)
    if purchase is None:
        messages.info(request, gettext("Buy this film to watch it."))
        return redirect("catalog:detail", pk=pk)
    try:
        vod = vod_info(vod_id=pk)
    except VodNotFound:  # removed from the catalog (films once sold are only retired)
        raise Http404("This film is no longer available.") from None
    context = {"vod": vod, "purchase": purchase}
    feature = vod_media(vod_id=pk, kind=FEATURE)
    if feature is not None:
        position = selectors.watch_position(user_id=request.user.id, vod_id=pk)
        if position >= feature.duration_seconds * selectors.FINISHED_SHARE:
            position = 0.0  # seen to the end: it starts again from the beginning
        context["video"] = {
            "src": _feature_src(user_id=request.user.id, vod_id=pk),
            "position": position,
            "start": f"{position:.1f}" if position else "",  # for #t=, never localized
            "source_url": reverse("purchase:watch-source", args=[pk]),
            "progress_url": reverse("progress-detail", kwargs={"vod_id": pk}),
        }
    return render(request, "purchase/watch.html", context)


FEATURE = "feature"


def _feature_src(*, user_id: int, vod_id: int) -> str:
    token = media_token(user_id=user_id, vod_id=vod_id, kind=FEATURE)
    return f"{reverse('purchase:watch-video', args=[vod_id])}?{urlencode({'token': token})}"


def _no_video() -> HttpResponse:
    # The same empty 403 for every refusal, decided before the film's media is looked
    # up: it says nothing of whether the film has a video, or of whose token it was.
    response = HttpResponse(status=403, content_type="text/plain")
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["GET", "HEAD"])
def watch_video_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The feature video of film `pk`, for its owner only: `?token=` must be a valid,
    unexpired media token for this film's feature, signed for the signed-in user (the
    <video> element sends the session cookie), who must own a paid purchase of the film
    now (a film retired from sale included). Any refusal is an empty 403; an owner's
    film that has no video is a 404. The bytes come by `MEDIA_DELIVERY` (Range,
    X-Accel-Redirect, storage)."""
    try:
        user_id, vod_id, kind = read_media_token(request.GET.get("token", ""))
    except BadSignature:  # forged, altered, expired (SignatureExpired) or missing
        return _no_video()
    # request.user.id is None when nobody is signed in
    if vod_id != pk or kind != FEATURE or request.user.id != user_id:
        return _no_video()
    if selectors.purchase_of_vod(user_id=user_id, vod_id=pk) is None:  # e.g. cancelled
        return _no_video()
    feature = vod_media(vod_id=pk, kind=FEATURE)
    if feature is None:
        raise Http404("This film has no video.")
    return media_response(request, feature)


@require_GET
def watch_source_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A new signed address of an owned film's video (JSON `{"src", "expires_in"}`), for
    the Watch page's script when the address it has has run out mid-film; 404 to
    anyone else."""
    if (
        not request.user.is_authenticated
        or selectors.purchase_of_vod(user_id=request.user.id, vod_id=pk) is None
    ):
        return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)
    response = JsonResponse(
        {"src": _feature_src(user_id=request.user.id, vod_id=pk), "expires_in": ttl_seconds()}
    )
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def library_view(request: HttpRequest) -> HttpResponse:
    """The films the user owns, most recently bought first, with "Continue watching"
    above them. Cards are worked out in Python (`_library_card`), so the template only
    prints, and kept rendered under a digest of what they show
    (`vodstore.cache.rendered`)."""
    user_id = request.user.id
    page = page_of(
        selectors.OWNED_WITH_PROGRESS,
        LIBRARY_PAGE_SIZE,
        request.GET.get("page"),
        count=lambda: selectors.owned_count(user_id=user_id),
        user_id=user_id,
    )
    # "Continue watching" on the first page only: from its films when they are all the
    # user owns, else asked for
    started = []
    if page.number == 1 and not page.has_next():
        started = selectors.continue_watching_among(page)[:CONTINUE_WATCHING]
    elif page.number == 1:
        started = selectors.CONTINUE_WATCHING.rows(limit=CONTINUE_WATCHING, user_id=user_id)
    # one query for the films of the page and of "Continue watching", those retired from
    # sale included; only a film removed from the catalog is missing
    films = vods_by_ids(vod_ids={p.vod_id for p in page} | {w.purchase.vod_id for w in started})

    def cards() -> str:
        labels = _CardLabels()
        context = {
            "cards": [_library_card(p, films.get(p.vod_id), _progress(p), labels) for p in page],
            "continuing": [
                _library_card(w.purchase, films[w.purchase.vod_id], w, labels, resume=True)
                for w in started
                if w.purchase.vod_id in films
            ],
        }
        return render_to_string("purchase/_library_content.html", context)

    facts = (
        "library",
        user_id,
        get_language(),
        get_current_timezone_name(),
        [(p.pk, p.vod_id, p.vod_title, p.created_at, _watched(_progress(p))) for p in page],
        [(w.purchase.pk, w.purchase.vod_id, _watched(w)) for w in started],
        sorted((f.id, f.title, f.poster_url, f.genre) for f in films.values()),
    )
    content = rendered(facts, cards)
    return render(request, "purchase/library.html", {"page_obj": page, "content": content})


def _watched(progress) -> tuple | None:
    """What a card shows of a film's progress."""
    return progress and (progress.position_seconds, progress.duration_seconds)


class _CardLabels:
    """The words every library card repeats, translated once a page."""

    def __init__(self) -> None:
        self.poster_of = gettext("Poster of %(title)s")
        self.bought = gettext("Bought %(date)s")
        self.stopped_at = gettext("Stopped at %(at)s")


def _library_card(purchase, film, progress, labels: _CardLabels, *, resume=False) -> dict:
    """What a library card shows: the film (None: removed from the catalog, shown by
    the title the purchase kept), when it was bought, and how far it was watched."""
    title = film.title if film else purchase.vod_title
    card = {
        "title": title,
        "poster_alt": labels.poster_of % {"title": title},
        "film": film,
        "resume": resume,
        "progress": None,
    }
    if film:
        card["url"] = reverse("purchase:watch", args=[film.id])
        card["genre_label"] = film.get_genre_display()
    if not resume:
        card["bought"] = labels.bought % {"date": date_format(localtime(purchase.created_at))}
    if progress is not None and (resume or progress.position_seconds):
        card["progress"] = {
            "share": watched_share(progress),
            "at": labels.stopped_at % {"at": timecode(progress.position_seconds)},
        }
    return card


def _progress(purchase: Purchase):
    # no progress yet: the reverse one-to-one raises an AttributeError, hence None
    return getattr(purchase, "progress", None)


@login_required
def purchase_list_view(request: HttpRequest) -> HttpResponse:
    """The user's purchases, newest first, with Cancel for the paid ones. The table is
    kept rendered under a digest of what it shows (`vodstore.cache.rendered`)."""
    # with the progress, which the refund terms read
    page = page_of(
        selectors.PURCHASES_WITH_PROGRESS,
        PAGE_SIZE,
        request.GET.get("page"),
        user_id=request.user.id,
    )
    rows = [with_refund_terms(purchase) for purchase in page]
    facts = (
        "purchases",
        request.user.id,
        get_language(),
        get_current_timezone_name(),
        [(p.pk, p.vod_id, p.vod_title, p.created_at, p.status, p.refund_reason) for p in rows],
        [(p.payment_method, p.amount) for p in rows],
    )
    table = rows and rendered(
        facts,
        lambda: render_to_string("purchase/_purchase_table.html", {"rows": _purchase_rows(rows)}),
    )
    return render(request, "purchase/purchase_list.html", {"page_obj": page, "table": table})


def _purchase_rows(purchases) -> list[dict]:
    """What each row of the purchases table shows (each purchase `with_refund_terms`),
    worked out in Python (the template only prints), with the words every row repeats
    translated once."""
    card, by_points_word = gettext("Card"), gettext("Points")
    paid_word, cancelled_word = gettext("Paid"), gettext("Cancelled")
    rows = []
    for purchase in purchases:
        by_points = purchase.payment_method == PaymentMethod.MILEAGE
        paid = purchase.status == Purchase.Status.PAID
        cancellable = paid and not purchase.refund_reason
        rows.append(
            {
                "pk": purchase.pk,
                "url": reverse("purchase:detail", args=[purchase.pk]),
                "title": purchase.vod_title,
                "date": date_format(localtime(purchase.created_at), "SHORT_DATETIME_FORMAT"),
                "method": by_points_word if by_points else card,
                "amount": points(purchase.amount) if by_points else won(purchase.amount),
                "paid": paid,
                "status": paid_word if paid else cancelled_word,
                "watch_url": reverse("purchase:watch", args=[purchase.vod_id]) if paid else "",
                "cancel_url": reverse("purchase:cancel", args=[purchase.pk]) if cancellable else "",
            }
        )
    return rows


def _own_purchase(request: HttpRequest, pk: int) -> Purchase:
    try:
        return selectors.purchase_get(user_id=request.user.id, purchase_id=pk)
    except Purchase.DoesNotExist:
        # someone else's purchase looks exactly like a missing one
        raise Http404("No such purchase.") from None


@login_required
def purchase_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One purchase as a receipt: the film, when, how paid (with the payment's
    reference), the amount, its status and refund terms; printable."""
    purchase = with_refund_terms(_own_purchase(request, pk))
    payment = payment_list(user_id=request.user.id, purchase_id=purchase.id).first()
    return render(
        request,
        "purchase/purchase_detail.html",
        {
            "purchase": purchase,
            "payment": payment,
            "earned": settings.MILEAGE_EARN_PER_PURCHASE,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def purchase_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST cancels (payment refunded, points reversed)."""
    purchase = with_refund_terms(_own_purchase(request, pk))
    if request.method == "GET":
        if purchase.refund_reason:
            messages.error(request, not_refundable_message(purchase.refund_reason))
            return redirect("purchase:detail", pk=pk)
        return render(
            request,
            "purchase/purchase_cancel.html",
            {"purchase": purchase, "earned": settings.MILEAGE_EARN_PER_PURCHASE},
        )
    try:
        services.purchase_cancel(user_id=request.user.id, purchase_id=pk)
    except DomainError as exc:
        messages.error(request, exc.message())
        return redirect("purchase:detail", pk=pk)
    messages.success(request, _cancelled_message(purchase))
    return redirect("purchase:list")
