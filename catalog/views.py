"""Storefront pages of the catalog: the film list (search, genre, pages), a film's detail
and its trailer, which anyone may play."""

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from catalog.models import Genre, Vod
from catalog.selectors import DEFAULT_SORT, VOD_SORTS, vod_get, vod_list, vod_media
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
    paginator = Paginator(vod_list(search=search, genre=genre, sort=sort), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "catalog/vod_list.html",
        {
            "page_obj": page,
            "vods": page.object_list,
            "search": search,
            "genre": genre,
            "genres": Genre.choices,
            "sort": sort,
            "sorts": SORT_CHOICES,
            "default_sort": DEFAULT_SORT,
            "is_filtered": bool(search or genre),
        },
    )


def vod_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        vod = vod_get(vod_id=pk)
    except Vod.DoesNotExist:
        raise Http404("No such film.") from None
    has_trailer = vod_media(vod_id=pk, kind=TRAILER) is not None
    return render(request, "catalog/vod_detail.html", {"vod": vod, "has_trailer": has_trailer})


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
