"""Writes to the catalog."""

from django.db import transaction

from catalog.events import VodRegistered
from catalog.models import Vod
from vodstore.events import publish


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
    vod.full_clean()
    with transaction.atomic():
        vod.save()
        publish(VodRegistered(vod_id=vod.id, title=vod.title, genre=vod.genre, price=vod.price))
    return vod
