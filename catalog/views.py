"""Storefront pages of the catalog: the film list (search, genre, pages), a film's detail
and its trailer, which anyone may play. The pages are kept rendered under the catalog's
generation (`catalog.pages`), with the visitor's own pieces composed in per request."""

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from catalog import cache, pages
from catalog.models import Genre, Vod
from catalog.pages import anonymous_page_cache
from catalog.selectors import (
    DEFAULT_SORT,
    VOD_SORTS,
    VodForSale,
    vod_get,
    vod_list,
    vod_media,
)
from vodstore.formatting import won
from vodstore.streaming import media_response

PAGE_SIZE = 24
# Longer queries cannot match a 200-character title; cutting them keeps the LIKE cheap.
MAX_SEARCH_LENGTH = 200

# The orders the catalog offers, as its sort links name them (keys of `VOD_SORTS`).
SORT_CHOICES = [
    ("newest", _("Newest")),
    ("title", _("Title")),
    ("price", _("Price")),
    ("year", _("Year")),
]


# The query parameters of the film list, all it shows depends on (see `catalog.pages`).
LIST_PARAMS = ("q", "genre", "sort", "page")


def _cards(vods) -> list[dict]:
    """What each film's card shows, worked out once per film in Python: the grid's
    template then only prints (no translation, lookup or include per card)."""
    genres = dict(Genre.choices)
    poster_of = gettext("Poster of %(title)s")
    return [
        {
            "pk": vod.pk,
            "url": reverse("catalog:detail", args=[vod.pk]),
            "title": vod.title,
            "year": vod.release_year,
            "genre": vod.genre,
            "genre_label": genres.get(vod.genre, vod.genre),
            "price": won(vod.price),
            "free": not vod.price,
            "poster_url": vod.poster_url,
            "poster_alt": poster_of % {"title": vod.title},
        }
        for vod in vods
    ]


@anonymous_page_cache(*LIST_PARAMS)
def vod_list_view(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:MAX_SEARCH_LENGTH]
    genre = request.GET.get("genre", "")
    # An unknown genre (an old bookmark, a typo) shows every film rather than an error.
    if genre not in Genre.values:
        genre = ""
    # So does an unknown order: the newest films.
    sort = request.GET.get("sort", DEFAULT_SORT)
    if sort not in VOD_SORTS:
        sort = DEFAULT_SORT
    page_number = request.GET.get("page")

    def build() -> pages.Fragment:
        films = vod_list(search=search, genre=genre, sort=sort)
        paginator = Paginator(films, PAGE_SIZE)
        # the count of a search or genre is kept too: its other pages need it again
        paginator.count = cache.cached_count(
            cache.key_for("storefront-count", search, genre), films.count
        )
        page = paginator.get_page(page_number)
        context = {
            "page_obj": page,
            "cards": _cards(page.object_list),
            "owned_slot": pages.OWNED_SLOT,
            "search": search,
            "genre": genre,
            "genres": Genre.choices,
            "sort": sort,
            "sorts": SORT_CHOICES,
            "default_sort": DEFAULT_SORT,
            "is_filtered": bool(search or genre),
        }
        html = render_to_string("catalog/_list_content.html", context, request)
        return pages.Fragment(html, tuple(card["pk"] for card in context["cards"]))

    # the page's own address says what it shows (an out-of-range page shows the last)
    content = pages.fragment(("list", search, genre, sort, page_number or ""), build)
    return render(request, "catalog/vod_list.html", {"content": content, "search": search})


@anonymous_page_cache()
def vod_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    def build() -> pages.Fragment:
        try:
            vod = vod_get(vod_id=pk)
        except Vod.DoesNotExist:
            raise Http404("No such film.") from None
        has_trailer = vod_media(vod_id=pk, kind=TRAILER) is not None
        context = {
            "vod": vod,
            "has_trailer": has_trailer,
            "buy_slot": pages.BUY_SLOT,
        }
        html = render_to_string("catalog/_detail_content.html", context, request)
        facts = {"id": vod.pk, "title": vod.title, "price": vod.price}
        return pages.Fragment(html, facts=facts)

    content = pages.fragment(("detail", pk), build)
    before, after = content.around_buy_box()
    film = VodForSale(**content.facts)
    return render(
        request,
        "catalog/vod_detail.html",
        {"vod": film, "before_buy_box": before, "after_buy_box": after},
    )


TRAILER = "trailer"
# A trailer is the same for everyone and changes rarely: browsers may keep it an hour.
TRAILER_MAX_AGE_SECONDS = 3600


@require_http_methods(["GET", "HEAD"])
def vod_trailer_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A film's trailer, for anyone, signed in or not (with Range: a player seeks in
    it); 404 when the film is not on sale or has no trailer."""
    try:
        vod_get(vod_id=pk)
    except Vod.DoesNotExist:
        raise Http404("No such film.") from None
    trailer = vod_media(vod_id=pk, kind=TRAILER)
    if trailer is None:
        raise Http404("This film has no trailer.")
    return media_response(request, trailer, max_age=TRAILER_MAX_AGE_SECONDS)
