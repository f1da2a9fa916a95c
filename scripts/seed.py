"""What the drills and benchmarks put in a store before they start, made through the
apps' services as the store itself would make it. Run inside the store
(`runner.in_store(env, "seed.buyers", ...)`), or called by the tests.

Accounts are the one exception: thousands of them are inserted at once (Django's user
model, unusable passwords) with an API token each, as `vodstore.auth.tokens_in_bulk`
makes them; the API is how the buyers then shop.
"""

import os
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Permission, User
from django.db import connection, transaction
from django.middleware.csrf import CSRF_ALLOWED_CHARS
from django.test import Client
from django.urls import reverse
from django.utils.crypto import get_random_string

from catalog import demo
from catalog.cache import catalog_changed
from catalog.media import MediaInfo, vod_media_store
from catalog.selectors import vod_list
from catalog.services import vod_create
from purchase.services import purchase_create
from vodstore.auth import tokens_in_bulk
from vodstore.streaming import media_token
from vodstore.vocabulary import PaymentMethod


def film_ids(*, priced: bool = False) -> list[int]:
    """The films on sale (only those with a price, if `priced`), by id."""
    films = vod_list()
    if priced:
        films = films.filter(price__gt=0)
    return list(films.order_by("id").values_list("id", flat=True))


def _accounts(prefix: str, count: int, *, emails: bool = False) -> list[User]:
    with transaction.atomic():
        return User.objects.bulk_create(
            [
                User(
                    username=f"{prefix}{i}",
                    email=f"{prefix}{i}@example.com" if emails else "",
                    password=make_password(None),  # unusable: they shop with their token
                )
                for i in range(count)
            ],
            batch_size=2000,
        )


def buyers(*, prefix: str, count: int, emails: bool = False, priced: bool = False) -> dict:
    """`count` accounts named `prefix`0, `prefix`1, ... with an API token each, and the
    films they may buy: {"tokens": [...], "films": [...]}, in account order."""
    users = _accounts(prefix, count, emails=emails)
    return {"tokens": tokens_in_bulk(users), "films": film_ids(priced=priced)}


def owners(*, prefix: str, count: int, films_each: int, signed_in: bool = False) -> dict:
    """`count` accounts who each bought the first `films_each` priced films by card
    (through `purchase_create`: the payment, the points and the events as any buyer's),
    for benchmarks that cancel or browse: {"tokens": [...], "purchases": [[token,
    purchase], ...]}, and with `signed_in` "cookies": each one's `Cookie` header of a
    signed-in browser (its session, and its CSRF cookie, as a browser sends it back)."""
    users = _accounts(prefix, count)
    tokens = tokens_in_bulk(users)
    films = film_ids(priced=True)[:films_each]
    purchases = [
        [token, purchase_create(user_id=user.id, vod_id=film).purchase.id]
        for user, token in zip(users, tokens, strict=True)
        for film in films
    ]
    made = {"tokens": tokens, "purchases": purchases}
    if signed_in:
        made["cookies"] = [_browser_cookie(user) for user in users]
    return made


def _browser_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    return f"{settings.SESSION_COOKIE_NAME}={session};{settings.CSRF_COOKIE_NAME}={_csrf_secret()}"


def _csrf_secret() -> str:
    return get_random_string(32, allowed_chars=CSRF_ALLOWED_CHARS)


def search_words() -> list[str]:
    """The words the demo catalog's titles are made of (3 letters or more): what a
    searching visitor types."""
    words = set()
    for group in (demo.CITIES, demo.ADJECTIVES, demo.NOUNS, demo.OF_HEADS, demo.MOMENTS):
        words.update(w.lower() for w in group)
    for profile in demo.PROFILES.values():
        words.update(w.lower() for w in profile.adjectives + profile.nouns)
    return sorted(w for w in words if len(w) >= 3)


def security_world(*, passwords: dict[str, str], priced: int, expensive: int) -> dict:
    """The security check's people (each with its password and an e-mail address; the
    `editor` is staff who may add films and nothing else) and its films: five free
    ones, `priced` ones from ₩4,500 up, and one that costs `expensive`."""
    users = {
        name: User.objects.create_user(
            username=name, password=password, email=f"{name}@example.com"
        )
        for name, password in passwords.items()
    }
    editor = users["editor"]
    editor.is_staff = True
    editor.save(update_fields=["is_staff"])
    editor.user_permissions.add(
        Permission.objects.get(content_type__app_label="catalog", codename="add_vod")
    )

    def film(title: str, price: int) -> int:
        return vod_create(
            title=title,
            synopsis="A film.",
            genre="drama",
            release_year=2020,
            runtime_minutes=100,
            price=price,
        ).id

    return {
        "users": {name: user.id for name, user in users.items()},
        "free": [film(f"Free film {i}", 0) for i in range(5)],
        "priced": [film(f"Film {i}", 4500 + 100 * i) for i in range(priced)],
        "expensive": film("The expensive film", expensive),
    }


def watching(*, mib: int) -> dict:
    """One viewer who bought the first film, whose feature is `mib` MiB of random bytes
    (stored by catalog's media service): the viewer's session cookie, and the signed
    address of the feature, for the benchmark of watching."""
    film = film_ids()[0]
    size = mib * 2**20
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "bench.mp4"
        with open(source, "wb") as out:
            for _ in range(mib):
                out.write(os.urandom(2**20))
        info = MediaInfo("video/mp4", 7200.0, size, 1920, 1080, "h264")
        vod_media_store(vod_id=film, kind="feature", path=source, info=info)
    viewer = User.objects.create_user("bench-viewer")
    purchase_create(user_id=viewer.id, vod_id=film, payment_method=PaymentMethod.CARD)
    token = media_token(user_id=viewer.id, vod_id=film, kind="feature")
    video = reverse("purchase:watch-video", args=[film]) + "?" + urlencode({"token": token})
    return {"film": film, "size": size, "cookie": _browser_cookie(viewer), "video": video}


def catalog_forget() -> dict:
    """Forget every cached catalog answer, as a change to a film does (the running
    workers' near copies hear of it too)."""
    catalog_changed()
    return {}


def analyze() -> dict:
    """Fresh planner statistics after a bulk load, as autovacuum would soon give them."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {}


# what `python -m scripts.in_store seed.NAME` may run
TASKS = (
    "film_ids",
    "buyers",
    "owners",
    "search_words",
    "security_world",
    "watching",
    "catalog_forget",
    "analyze",
)
