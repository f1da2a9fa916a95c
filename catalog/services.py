"""Writes to the catalog: films are added, changed and retired (taken off sale), never
deleted once in the store, since purchases keep naming them by id."""

from collections.abc import Mapping

from django.db import transaction

from catalog.events import VodRegistered
from catalog.models import Vod
from vodstore.events import publish

# What staff may set on a film: its editable fields (its id and times are the store's).
VOD_FIELDS = frozenset(
    field.name for field in Vod._meta.concrete_fields if field.editable and not field.primary_key
)


def vod_create(
    *,
    title: str,
    genre: str,
    release_year: int,
    runtime_minutes: int,
    price: int,
    synopsis: str = "",
    poster_url: str = "",
    is_active: bool = True,
) -> Vod:
    """Add a film to the catalog (validated against the model's rules) and publish
    `VodRegistered` with it. The cached catalog is refreshed by the model's signal."""
    vod = Vod(
        title=title,
        synopsis=synopsis,
        genre=genre,
        release_year=release_year,
        runtime_minutes=runtime_minutes,
        price=price,
        poster_url=poster_url,
        is_active=is_active,
    )
    return vod_register(vod=vod)


def vod_register(*, vod: Vod) -> Vod:
    """Add a film built as an unsaved `Vod` (the admin's form builds the one its media
    inlines then attach to), as `vod_create` does: validated, saved and `VodRegistered`
    published in one transaction."""
    if vod.pk is not None:
        raise ValueError("vod_register adds a new film; change one with vod_update")
    vod.full_clean()
    with transaction.atomic():
        vod.save()
        publish(VodRegistered(vod_id=vod.id, title=vod.title, genre=vod.genre, price=vod.price))
    return vod


def vod_update(*, vod: Vod, data: Mapping[str, object]) -> Vod:
    """Change a film's fields named in `data` (validated against the model's rules; only
    `VOD_FIELDS`). Taking it off sale (`is_active` false) retires it: it leaves the
    store's lists and can no longer be bought, while its owners keep it. Publishes no
    event (the specification has none for a change); the cached catalog is refreshed by
    the model's signal."""
    unknown = set(data) - VOD_FIELDS
    if unknown:
        raise ValueError(f"not a field staff may change: {', '.join(sorted(unknown))}")
    for name, value in data.items():
        setattr(vod, name, value)
    vod.full_clean()
    vod.save()  # every field: the admin's form has set the changed ones on `vod` already
    return vod


def vod_set_on_sale(*, vod_ids: list[int], on_sale: bool) -> int:
    """Put films back on sale or retire them (see `vod_update`); how many changed."""
    changed = 0
    with transaction.atomic():
        for vod in Vod.objects.filter(pk__in=vod_ids).exclude(is_active=on_sale):
            vod_update(vod=vod, data={"is_active": on_sale})
            changed += 1
    return changed
