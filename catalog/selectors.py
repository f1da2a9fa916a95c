"""Reads of the catalog. Other apps use `vod_get_for_sale`, which returns a plain
frozen dataclass, never a model instance."""

from dataclasses import dataclass

from django.db.models import F, QuerySet

from catalog.models import Vod, VodMedia
from catalog.search import title_contains


@dataclass(frozen=True)
class VodForSale:
    """What the purchase context needs to know about a film it sells."""

    id: int
    title: str
    price: int


class VodNotFound(LookupError):
    """No active VOD has that id."""


# The storefront's orders, each ending with the id (in the same direction) so that films
# that tie keep one order from page to page; each has its partial index (`Vod.Meta`).
VOD_SORTS: dict[str, tuple[str, ...]] = {
    "newest": ("-created_at", "-id"),
    "title": ("title", "id"),
    "price": ("price", "id"),
    "year": ("-release_year", "-id"),  # the latest films first
}
DEFAULT_SORT = "newest"


def vod_list(
    *, search: str = "", genre: str = "", sort: str = DEFAULT_SORT, off_sale_too: bool = False
) -> QuerySet[Vod]:
    """The active VODs (every VOD with `off_sale_too`) in the order `sort` names (one of
    `VOD_SORTS`, newest first by default), optionally searched by title and filtered by
    genre."""
    qs = Vod.objects.all() if off_sale_too else Vod.objects.filter(is_active=True)
    if search:
        qs = title_contains(qs, search)
    if genre:
        qs = qs.filter(genre=genre)
    if sort != DEFAULT_SORT:
        qs = qs.order_by(*VOD_SORTS[sort])
    return qs


def vod_get(*, vod_id: int) -> Vod:
    """One active VOD, or `Vod.DoesNotExist`."""
    return Vod.objects.get(pk=vod_id, is_active=True)


def vod_get_for_sale(*, vod_id: int) -> VodForSale:
    """The id, title and price of an active VOD, or `VodNotFound`."""
    rows = Vod.objects.filter(pk=vod_id, is_active=True).values("id", "title", "price")[:1]
    if not rows:
        raise VodNotFound(vod_id)
    return VodForSale(**rows[0])


def vod_titles(*, vod_ids: list[int]) -> dict[int, str]:
    """Titles of the given VODs (active or not), by id, in one query."""
    return dict(Vod.objects.filter(pk__in=vod_ids).values_list("id", "title"))


@dataclass(frozen=True)
class MediaFile:
    """A film's feature or trailer, as the streaming views need it."""

    vod_id: int
    kind: str  # "feature" | "trailer"
    name: str  # the file's name in the "media" storage
    size: int  # bytes
    content_type: str
    duration_seconds: float


def vod_media(*, vod_id: int, kind: str) -> MediaFile | None:
    """The film's feature or trailer (whether or not the film is on sale), or None."""
    row = (
        VodMedia.objects.filter(vod_id=vod_id, kind=kind)
        .values("vod_id", "kind", "content_type", "duration_seconds")
        .annotate(name=F("file"), size=F("size_bytes"))
        .first()
    )
    return MediaFile(**row) if row else None
