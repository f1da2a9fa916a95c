"""Django's Redis cache backend, with one Redis client per connection pool.

Django builds a new `redis.Redis` around the pool for every cache operation; on the
hot paths (a cached catalog answer, the payment guard, the rate limit) that rebuild
was about half the cost of the cache call. A redis-py client is safe to share between
threads (its pool hands out connections), so one per pool is enough."""

import contextvars
import hashlib
import logging
from collections.abc import Callable

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient
from django.utils.safestring import SafeString, mark_safe

logger = logging.getLogger(__name__)


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._client(connection_pool=self._get_connection_pool(write))
            # setdefault: two threads racing here keep one client between them
            client = self._clients.setdefault(index, client)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient

    def redis(self):
        """The shared redis-py client, for what the cache API lacks (publish/subscribe)."""
        return self._cache.get_client(write=True)


def count(key: str, timeout: int) -> int:
    """Add one to the counter `key` of the default cache, which starts at 0 and lasts
    `timeout` seconds from its first count; return the new value.

    On Redis one round trip (SET NX EX and INCR in one MULTI); Django's `add` and
    `incr` take three there (its `incr` first asks whether the key exists)."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        full_key = backend.make_and_validate_key(key)
        pipe = backend.redis().pipeline(transaction=True)
        pipe.set(full_key, 0, ex=timeout, nx=True)
        pipe.incr(full_key)
        return pipe.execute()[1]
    backend.add(key, 0, timeout)
    try:
        return backend.incr(key)
    except ValueError:  # expired between add and incr
        backend.add(key, 1, timeout)
        return 1


# What `kept` found during the current request (set by `KeptPerRequest`): a page that
# shows a value twice (the points in the header and in the buy box) reads it once.
_this_request: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "kept_this_request", default=None
)


class KeptPerRequest:
    """Middleware: what `kept` reads is remembered until the response is made (never
    for another request: each has its own, dropped when it ends)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        token = _this_request.set({})
        try:
            return self.get_response(request)
        finally:
            _this_request.reset(token)


# The keys of the per-user values signed-in pages show (the points, the films owned),
# each app's own (`read_together`): the first a request asks for is read with the others.
_TOGETHER: list[Callable[[int], str]] = []
_ABSENT = object()  # read with the others and not in the cache: computed when asked


def read_together(key_of: Callable[[int], str]) -> Callable[[int], str]:
    """Register `key_of(user_id)`, the key of a per-user value most signed-in pages
    show: within a request, the first such value asked for (`kept(..., user_id=...)`)
    is read from the cache together with the user's others, in one round trip."""
    _TOGETHER.append(key_of)
    return key_of


def _read_ahead(this_request: dict, user_id: int) -> None:
    keys = [key_of(user_id) for key_of in _TOGETHER]
    this_request[("read together", user_id)] = True
    try:
        found = cache.get_many(keys)
    except Exception:
        logger.warning("cache unavailable; the user's values are computed", exc_info=True)
        return
    for key in keys:
        this_request.setdefault(key, found.get(key, _ABSENT))


def kept(
    key: str,
    compute: Callable[[], object],
    *,
    seconds: int,
    what: str,
    user_id: int | None = None,
):
    """The value under `key` in the default cache, else `compute()`, then kept for
    `seconds`. The cache is an accelerator, never a dependency: if it fails, `compute()`
    answers and the failure is logged (`what` names the value). Whatever `compute`
    raises is raised, and nothing is kept. Within a request, asked again, the value
    read the first time answers (`KeptPerRequest`); a value of `user_id` whose key is
    registered (`read_together`) comes with the user's others."""
    this_request = _this_request.get()
    found, in_cache = None, True
    if this_request is not None:
        if user_id is not None and ("read together", user_id) not in this_request:
            _read_ahead(this_request, user_id)
        if key in this_request:
            found = this_request[key]
            if found is not _ABSENT:
                return found
            found, in_cache = None, False  # read with the others: not in the cache
    if in_cache:
        try:
            found = cache.get(key)
        except Exception:
            logger.warning("cache unavailable; computing %s", what, exc_info=True)
            found = None
    if found is None:
        found = compute()
        try:
            cache.set(key, found, seconds)
        except Exception:
            logger.warning("cache unavailable; %s not kept", what, exc_info=True)
    if this_request is not None:
        this_request[key] = found
    return found


def forget(key: str, *, what: str) -> None:
    """Drop `key` from the default cache (once a change commits), and from what this
    request read. If the cache fails, the old value lasts until its timeout: logged."""
    this_request = _this_request.get()
    if this_request is not None:
        this_request.pop(key, None)
    try:
        cache.delete(key)
    except Exception:
        logger.exception("cache: could not forget %s", what)


# How long a rendered list is kept after it was last made (it is never stale: see
# `rendered`); long enough for a person's visits, short enough to leave room.
RENDERED_SECONDS = 600


def rendered(facts: object, render: Callable[[], str]) -> SafeString:
    """The HTML `render()` makes of `facts`, kept under a digest of them.

    `facts` must hold everything the HTML shows (the rows as read, whose they are, the
    language and the time zone): a change to any of them is another key, so what is
    kept is never stale and nothing needs forgetting when the data changes. For a
    person's own lists (purchases, library), read again and again and rendered at a
    cost several times that of reading them.

    This process keeps its own copy too (the "rendered" cache, its memory, bounded in
    entries), asked first: the same facts make the same HTML in every process, so a
    copy is as fresh as the shared one and spares the round trip to it."""
    digest = hashlib.blake2b(repr(facts).encode(), digest_size=20).hexdigest()
    key = f"rendered:{digest}"
    near = caches["rendered"]
    html = near.get(key)
    if html is None:
        html = kept(key, render, seconds=RENDERED_SECONDS, what="a rendered list")
        near.set(key, html, RENDERED_SECONDS)
    return mark_safe(html)  # noqa: S308 - our templates' output
