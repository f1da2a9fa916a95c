"""The catalog's JSON API: anyone reads, staff with `catalog.add_vod` add films.

Film list pages and film details in JSON are served from the catalog's read cache
(`catalog.cache`) when they can be; searches are not (their keys are whatever people
type; the title index answers them)."""

import copy
import re

import django_filters
from django import forms
from django.core.paginator import Paginator as DjangoPaginator
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import filters, generics, serializers
from rest_framework.permissions import DjangoModelPermissionsOrAnonReadOnly
from rest_framework.response import Response

from catalog import cache as catalog_cache
from catalog import selectors, services
from catalog.models import Genre, Vod
from catalog.search import title_contains
from vodstore.api import InvalidQuery, JSONTypes, Pagination, single_values
from vodstore.inputs import NO_CONTROL_PATTERN

# The first of the two original films, as the API answers it (the OpenAPI examples)
VOD_EXAMPLE = {
    "id": 1,
    "title": "Alive!",
    "synopsis": (
        "A young gamer wakes up to find his apartment block overrun by an infection that "
        "turns people violent. Cut off from his family and running out of food and water, "
        "he has to find a way to stay alive."
    ),
    "genre": "horror",
    "release_year": 2020,
    "runtime_minutes": 98,
    "price": 3500,
    "poster_url": "",
    "is_active": True,
    "created_at": "2026-11-20T10:00:00.000000+09:00",
}
NEW_VOD_EXAMPLE = {
    "title": "The Quiet Harbor",
    "synopsis": "A lighthouse keeper on a small island finds a message in a bottle.",
    "genre": "drama",
    "release_year": 2024,
    "runtime_minutes": 112,
    "price": 5000,
    "poster_url": "",
    "is_active": True,
}


class VodSerializer(JSONTypes, serializers.ModelSerializer):
    """A film: what the store sells. `is_active` false: taken off sale."""

    title = serializers.CharField(max_length=200, allow_blank=False, trim_whitespace=True)
    # On sale unless said otherwise, in a form too: DRF reads a boolean missing from
    # form data as an unticked box (False), and a film added by a form would vanish.
    is_active = serializers.BooleanField(default=True)

    def get_fields(self):
        # ModelSerializer rebuilds its fields from the model on every use (a third of a
        # film page's cost when it is not cached); they depend on nothing but the class,
        # so build them once and hand out copies.
        template = type(self).__dict__.get("_fields_template")
        if template is None:
            template = super().get_fields()
            type(self)._fields_template = template
        return copy.deepcopy(template)

    class Meta:
        model = Vod
        fields = [
            "id",
            "title",
            "synopsis",
            "genre",
            "release_year",
            "runtime_minutes",
            "price",
            "poster_url",
            "is_active",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]


class VodFilterForm(forms.Form):
    """A filter given with no value (`?genre=`) is refused like any value that is no
    genre: django-filter would read it as no filter, where the schema says a genre."""

    def clean(self):
        cleaned = super().clean()
        for name in self.fields:
            if self.data.get(name) == "":
                self.add_error(name, "Give one of the choices, or leave the parameter out.")
        return cleaned


class VodFilter(django_filters.FilterSet):
    genre = django_filters.ChoiceFilter(choices=Genre.choices)

    class Meta:
        model = Vod
        fields = ["genre"]
        form = VodFilterForm


class StableOrderingFilter(filters.OrderingFilter):
    """`?ordering=price` with the id as tie-breaker (in the same direction, which the
    indexes follow): films of equal price keep one order, so no film is shown twice
    or skipped from one page to the next.

    An ordering by anything but the view's `ordering_fields` is a 400 `invalid_query`
    (DRF would quietly ignore it, and the schema says which orderings there are)."""

    MAX_LENGTH = 100

    def _pattern(self, view) -> str:
        name = "-?(?:" + "|".join(view.ordering_fields) + ")"
        return f"^{name}(?:,{name})*$"

    def get_ordering(self, request, queryset, view):
        raw = request.query_params.get(self.ordering_param)
        if raw is not None and (
            len(raw) > self.MAX_LENGTH or not re.fullmatch(self._pattern(view), raw)
        ):
            fields = ", ".join(view.ordering_fields)
            raise InvalidQuery(
                errors={
                    self.ordering_param: [
                        f"Order by {fields}, or several of them separated by commas; "
                        "a minus sign before one reverses it."
                    ]
                }
            )
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if ordering and not {"id", "-id", "pk", "-pk"} & set(ordering):
            ordering.append("-id" if ordering[0].startswith("-") else "id")
        return ordering

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"].update(pattern=self._pattern(view), maxLength=self.MAX_LENGTH)
            parameter["description"] = (
                f"Order by {', '.join(view.ordering_fields)} (a minus sign first: the "
                "other way), or by several, separated by commas."
            )
        return parameters


class TitleSearchFilter(filters.SearchFilter):
    """`?search=` as DRF has it (every term, quoted phrases kept whole, must be in the
    title), each term found through the title index where there is one
    (`catalog.search`)."""

    MAX_LENGTH = 100  # a title is at most 200 characters; a search, a few words of one

    def filter_queryset(self, request, queryset, view):
        raw = request.query_params.get(self.search_param, "")
        if len(raw) > self.MAX_LENGTH:
            raise InvalidQuery(
                errors={self.search_param: [f"Search with at most {self.MAX_LENGTH} characters."]}
            )
        for term in self.get_search_terms(request):
            queryset = title_contains(queryset, term)
        return queryset

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"].update(maxLength=self.MAX_LENGTH, pattern=NO_CONTROL_PATTERN)
        return parameters


JSON = "application/json"
# Accept headers for which DRF answers with its JSON renderer as plain `application/json`.
PLAIN_JSON_ACCEPT = frozenset({"", "*/*", JSON})


class CachedReadMixin:
    """GET answers in JSON come from the catalog cache; a miss is built as usual and kept.

    Most reads are anonymous JSON requests, whose answer DRF would build the same way
    for anyone: those are looked up before DRF parses the request (a hit then costs
    about what /healthz costs). Other JSON reads (with a token or session, an explicit
    media type) are looked up once DRF has authenticated and negotiated them. The
    browsable API (HTML) is never cached."""

    _store_as: tuple[str, str] | None = None

    def cacheable_query(self, query) -> bool:
        return True

    def answer_url(self, request) -> str:
        """What the answer depends on besides its media type: here the whole URL (a
        list's next/previous links carry its host and query)."""
        return request.build_absolute_uri()

    def _key(self, request, media_type: str) -> str:
        return catalog_cache.key_for(self.answer_url(request), media_type)

    def dispatch(self, request, *args, **kwargs):
        if (
            request.method == "GET"
            and "HTTP_AUTHORIZATION" not in request.META  # DRF may refuse a bad token
            and request.META.get("HTTP_ACCEPT", "") in PLAIN_JSON_ACCEPT
            and "format" not in request.GET
            and self.cacheable_query(request.GET)
        ):
            key = self._key(request, JSON)
            content, generation = catalog_cache.lookup(key)
            if content is not None:
                response = HttpResponse(content, content_type=JSON)
                # what DRF's finalize_response adds
                response["Allow"] = ", ".join(self.allowed_methods)
                response["Vary"] = "Accept"
                return response
            self._store_as = (key, generation)
        return super().dispatch(request, *args, **kwargs)

    def from_cache(self, request, build):
        """The cached answer to this (authenticated, negotiated) request, or `build()`."""
        if (
            self._store_as is None  # not looked up yet
            and request.accepted_renderer.format == "json"
            and self.cacheable_query(request.query_params)
        ):
            key = self._key(request, request.accepted_media_type)
            content, generation = catalog_cache.lookup(key)
            if content is not None:
                return HttpResponse(content, content_type=JSON)
            self._store_as = (key, generation)
        return build()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self._store_as and response.status_code == 200 and isinstance(response, Response):
            response.render()
            catalog_cache.store(self._store_as[0], response.content, self._store_as[1])
        return response


class CatalogPagination(Pagination):
    """The store's pagination, with a list's film count from the catalog cache: the
    COUNT is the one part of a page whose cost grows with the catalog (100,000 films:
    7 to 18 ms), and it changes only when a film does."""

    count_key: str | None = None

    def paginate_queryset(self, queryset, request, view=None):
        self.count_key = view.count_key(request) if view is not None else None
        return super().paginate_queryset(queryset, request, view)

    def django_paginator_class(self, object_list, per_page):
        paginator = DjangoPaginator(object_list, per_page)
        if self.count_key:
            paginator.count = catalog_cache.cached_count(self.count_key, object_list.count)
        return paginator


class VodListCreateView(CachedReadMixin, generics.ListCreateAPIView):
    """List the films on sale (search by title, filter by genre, order), or add one."""

    name = _("Films")
    serializer_class = VodSerializer
    permission_classes = [DjangoModelPermissionsOrAnonReadOnly]
    filter_backends = [
        django_filters.rest_framework.DjangoFilterBackend,
        TitleSearchFilter,
        StableOrderingFilter,
    ]
    filterset_class = VodFilter
    pagination_class = CatalogPagination
    search_fields = ["title"]
    ordering_fields = ["title", "release_year", "price", "runtime_minutes", "created_at"]
    ordering = ["-created_at", "-id"]

    # Only answers whose every query parameter is known are cached, so that made-up
    # parameters cannot fill the cache with copies of the same page.
    CACHEABLE_PARAMETERS = frozenset({"page", "page_size", "genre", "ordering", "format"})

    def cacheable_query(self, query) -> bool:
        ordering = query.get("ordering")
        return set(query) <= self.CACHEABLE_PARAMETERS and (
            ordering is None or ordering.removeprefix("-") in self.ordering_fields
        )

    def count_key(self, request) -> str | None:
        """The cache key of this list's film count: the count depends on the genre only
        (searches are not cached)."""
        if not self.cacheable_query(request.query_params):
            return None
        return catalog_cache.key_for("count", request.query_params.get("genre", ""))

    def get_queryset(self):
        return selectors.vod_list()

    def filter_queryset(self, queryset):
        single_values(self.request, ["search", "genre", "ordering"])
        return super().filter_queryset(queryset)

    @extend_schema(
        examples=[OpenApiExample("Films on sale", value=VOD_EXAMPLE, response_only=True)]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        examples=[
            OpenApiExample("A new film", value=NEW_VOD_EXAMPLE, request_only=True),
            OpenApiExample(
                "The film added",
                value={
                    **NEW_VOD_EXAMPLE,
                    "id": 3,
                    "created_at": "2026-12-01T21:10:00.000000+09:00",
                },
                response_only=True,
            ),
        ]
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def list(self, request, *args, **kwargs):
        return self.from_cache(request, lambda: super(VodListCreateView, self).list(request))

    def perform_create(self, serializer):
        serializer.instance = services.vod_create(**serializer.validated_data)


# Who sees a film taken off sale by its id: whoever may add, change or view films (the
# film they just added off sale, say). Everyone else, and every list, sees films on sale.
OFF_SALE_READERS = ("catalog.add_vod", "catalog.change_vod", "catalog.view_vod")


class VodDetailView(CachedReadMixin, generics.RetrieveAPIView):
    """One film on sale; staff who may add, change or view films see one taken off sale
    too (`is_active` false)."""

    name = _("Film")
    serializer_class = VodSerializer

    @extend_schema(examples=[OpenApiExample("A film", value=VOD_EXAMPLE, response_only=True)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    permission_classes = [DjangoModelPermissionsOrAnonReadOnly]

    def answer_url(self, request) -> str:
        # A film's answer has no links: one entry per film, whatever the query string.
        return request.path

    def get_queryset(self):
        user = self.request.user
        if user.is_staff and any(user.has_perm(perm) for perm in OFF_SALE_READERS):
            # Not kept in the cache: the answer may be a film no one else may read.
            # (A film on sale found in the cache is the same answer for staff.)
            self._store_as = None
            return selectors.vod_list(off_sale_too=True)
        return selectors.vod_list()

    def retrieve(self, request, *args, **kwargs):
        return self.from_cache(
            request, lambda: super(VodDetailView, self).retrieve(request, *args, **kwargs)
        )
