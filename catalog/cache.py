"""The catalog's read cache: rendered API answers (film list pages, film details) and
the film counts of lists, all forgotten at once whenever any film changes.

Every entry is stored with the catalog's current *generation*, a random token kept
under one cache key. A change to any film (`Vod` saved or deleted, through the API,
`vod_create`, the admin or the shell) replaces the token, so every entry written
before it stops matching: one cache write invalidates the whole catalog, and no
entry needs to know which films it shows. A read fetches the token and the entry in
one round trip (`get_many`).

The token is replaced twice: at once, so the changing transaction itself never
reads an old answer, and again right after commit, so an answer another request
built from the database between the first bump and the commit (it still saw the old
rows) is not kept.

With a shared cache (Redis, `CACHE_URL`) every worker sees a change at once; each
process also keeps its own copy of the answers it serves (`catalog.near`), used only
while it hears of every change, which spares the round trip to Redis. With
the local-memory default each process has its own cache, so another worker may
answer from its copy for up to `CATALOG_CACHE_LOCAL_SECONDS` (10 s); a single-process
server (`make run`) sees changes at once.

The cache is an accelerator, never a dependency: if it fails, the catalog is read
from the database and the error is logged.
"""

import hashlib
import logging
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction

from catalog.near import NearCache

logger = logging.getLogger(__name__)

GENERATION_KEY = "catalog:generation"
# Longer than any entry: should the token expire anyway, a new one simply makes every
# entry a miss.
GENERATION_SECONDS = 24 * 3600


def _timeout() -> int:
    # A shared cache keeps entries until the catalog changes (CATALOG_CACHE_SECONDS only
    # frees memory); a per-process one cannot hear of another process's change.
    # (`cache` is a proxy: ask the backend itself what it is)
    per_process = isinstance(caches[DEFAULT_CACHE_ALIAS], LocMemCache | DummyCache)
    return settings.CATALOG_CACHE_LOCAL_SECONDS if per_process else settings.CATALOG_CACHE_SECONDS


def key_for(*parts: str) -> str:
    """A cache key for an answer identified by `parts` (a URL, a media type)."""
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
    return f"catalog:answer:{digest}"


def current_generation() -> str:
    """The catalog's generation in the shared cache, started if there is none yet."""
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        # First use, or the key was evicted: start a generation (or take the one a
        # concurrent request just started).
        cache.add(GENERATION_KEY, uuid.uuid4().hex, GENERATION_SECONDS)
        generation = cache.get(GENERATION_KEY) or ""
    return generation


# This process's copy in front of a shared cache (`catalog.near`), bounded in entries.
near = NearCache(
    read_generation=current_generation,
    max_entries=settings.CATALOG_NEAR_CACHE_ENTRIES,
    resync_seconds=settings.CATALOG_NEAR_RESYNC_SECONDS,
)


def lookup(key: str) -> tuple[bytes | None, str]:
    """The cached answer under `key` if it belongs to the current generation, and that
    generation (to pass to `store` after a miss)."""
    if near.listening() and (hit := near.get(key)) is not None:
        return hit
    try:
        found = cache.get_many([GENERATION_KEY, key])
        generation = found.get(GENERATION_KEY)
        if generation is None:
            return None, current_generation()
    except Exception:
        logger.warning("catalog cache unavailable; reading the database", exc_info=True)
        return None, ""
    entry = found.get(key)
    if entry is not None and entry[0] == generation:
        near.put(key, generation, entry[1])
        return entry[1], generation
    return None, generation


def store(key: str, content: bytes, generation: str) -> None:
    """Keep `content` under `key`, for the generation read before it was built."""
    if not generation:
        return  # the cache failed at lookup: do not write either
    near.put(key, generation, content)
    try:
        cache.set(key, (generation, content), _timeout())
    except Exception:
        logger.warning("catalog cache unavailable; answer not kept", exc_info=True)


def cached_count(key: str, count: Callable[[], int]) -> int:
    """The number under `key` for the current generation, or `count()` (then kept)."""
    content, generation = lookup(key)
    if content is not None:
        return int(content)
    number = count()
    store(key, str(number).encode(), generation)
    return number


def _new_generation() -> None:
    generation = uuid.uuid4().hex
    try:
        cache.set(GENERATION_KEY, generation, GENERATION_SECONDS)
        near.changed(generation)
    except Exception:
        # Cached answers stay as they were until their timeout: say so loudly.
        logger.exception("catalog cache: could not invalidate after a catalog change")


def catalog_changed() -> None:
    """Forget every cached catalog answer, now and again once the change commits."""
    _new_generation()
    transaction.on_commit(_new_generation, robust=True)


def on_vod_saved_or_deleted(sender, **kwargs) -> None:
    """`post_save` / `post_delete` receiver of `Vod` (connected in `CatalogConfig.ready`)."""
    catalog_changed()
