"""Reads of the catalog. Other apps get plain frozen dataclasses, never model
instances: `vod_info` and `vods_by_ids` (films on sale or retired, as `VodInfo`),
`vod_get_for_sale` (`VodForSale`) and `vod_media` (`MediaFile`); a film that is not
there is `VodNotFound`. `vod_list` and `vod_get` return querysets and models for the
catalog's own pages and API."""

from collections.abc import Iterable
from dataclasses import dataclass, fields

from django.db.models import F, QuerySet

from catalog import cache
from catalog.models import Genre, Vod, VodMedia
from catalog.search import title_contains


@dataclass(frozen=True)
class VodForSale:
    """What the purchase context needs to know about a film it sells."""

    id: int
    title: str
    price: int


@dataclass(frozen=True)
class VodInfo:
    """A film as another app's pages show it (a library, a player), on sale or retired
    (`on_sale` false): owners keep their films after they leave the store."""

    id: int
    title: str
    synopsis: str
    genre: str
    release_year: int
    runtime_minutes: int
    price: int
    poster_url: str
    on_sale: bool

    def get_genre_display(self) -> str:
        """The genre's label, by the model's name for it (the shared poster template
        shows a film's genre this way, for a model or this record)."""
        return dict(Genre.choices).get(self.genre, self.genre)


class VodNotFound(LookupError):
    """No VOD (for sale: no active VOD) has that id."""


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
    """One active VOD, or `Vod.DoesNotExist` (the catalog's own pages; other apps use
    `vod_info`)."""
    return Vod.objects.get(pk=vod_id, is_active=True)


_INFO_COLUMNS = [f.name for f in fields(VodInfo) if f.name != "on_sale"]


def _vod_infos(vod_ids: Iterable[int]) -> QuerySet:
    return (
        Vod.objects.filter(pk__in=vod_ids).order_by().values(*_INFO_COLUMNS, on_sale=F("is_active"))
    )


def vod_info(*, vod_id: int) -> VodInfo:
    """A film, on sale or retired, or `VodNotFound`."""
    rows = _vod_infos([vod_id])[:1]
    if not rows:
        raise VodNotFound(vod_id)
    return VodInfo(**rows[0])


def vods_by_ids(*, vod_ids: Iterable[int]) -> dict[int, VodInfo]:
    """The given films, on sale or retired, by id; ids of films that do not exist are
    absent. Those in this process's copy of the catalog (`catalog.near`, used only while
    it hears of every change) come from there, the rest in one query (then kept there):
    a buyer's library asks for the same films again and again."""
    ids = set(vod_ids)
    found: dict[int, VodInfo] = {}
    near = cache.near
    generation = near.generation if near.listening() else None  # read before the rows
    if generation is not None:
        for vod_id in ids:
            if (hit := near.get(_info_key(vod_id))) is not None:
                found[vod_id] = hit[0]
    if missing := ids - found.keys():
        read = {row["id"]: VodInfo(**row) for row in _vod_infos(missing)}
        if generation is not None:
            for vod_id, info in read.items():
                # the record itself: this process's copy is never serialized
                near.put(_info_key(vod_id), generation, info)
        found.update(read)
    return found


def _info_key(vod_id: int) -> str:
    return f"catalog:info:{vod_id}"


def vod_get_for_sale(*, vod_id: int) -> VodForSale:
    """The id, title and price of an active VOD, or `VodNotFound`."""
    rows = Vod.objects.filter(pk=vod_id, is_active=True).values("id", "title", "price")[:1]
    if not rows:
        raise VodNotFound(vod_id)
    return VodForSale(**rows[0])


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
