"""Storefront pages of the catalog: the film list (search, genre, pages) and a film's detail."""

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from catalog.models import Genre, Vod
from catalog.selectors import vod_get, vod_list

PAGE_SIZE = 24
# Longer queries cannot match a 200-character title; cutting them keeps the LIKE cheap.
MAX_SEARCH_LENGTH = 200


def vod_list_view(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:MAX_SEARCH_LENGTH]
    genre = request.GET.get("genre", "")
    # An unknown genre (an old bookmark, a typo) shows every film rather than an error.
    if genre not in Genre.values:
        genre = ""
    paginator = Paginator(vod_list(search=search, genre=genre), PAGE_SIZE)
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
            "is_filtered": bool(search or genre),
        },
    )


def vod_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        vod = vod_get(vod_id=pk)
    except Vod.DoesNotExist:
        raise Http404("No such film.") from None
    return render(request, "catalog/vod_detail.html", {"vod": vod})
