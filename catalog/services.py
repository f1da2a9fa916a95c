"""Writes to the catalog."""

from django.db import transaction

from catalog.models import Vod


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
    """Add a film to the catalog (validated against the model's rules)."""
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
    return vod
