"""This process's own copy of the catalog's hottest cached answers, in front of the
shared cache (Redis): a hit there costs no round trip at all.

A copy is only as good as the news of changes, so it is used only while this process
listens to them. A daemon thread subscribes to the catalog's change channel (Redis
publish/subscribe) and, on every message, rereads the catalog's generation (see
`catalog.cache`). Every entry carries the generation it was read under and counts only
while that is the current one, so one change turns them all into misses at once.

- The process that makes a change takes the new generation at once, without waiting
  for its own message (a transaction never reads an answer older than its change).
- Other processes hear of it within a message's trip through Redis (about a
  millisecond on one host).
- The thread also rereads the generation every `CATALOG_NEAR_RESYNC_SECONDS` (5 s), so
  a lost message cannot keep an old answer longer than that.
- While the thread cannot listen (Redis down, reconnecting), the copy is not used.

Only with the Redis cache backend: the local-memory default is per process already.
The thread starts lazily, in the process that serves (after gunicorn forks)."""

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches

from vodstore.cache import RedisCache

logger = logging.getLogger(__name__)

CHANNEL = "catalog:changes"
SUBSCRIBE_SECONDS = 5.0  # how long to wait for Redis to confirm the subscription


class NearCache:
    """Answers by key, each with the generation it belongs to; see the module."""

    def __init__(
        self,
        *,
        read_generation: Callable[[], str],
        max_entries: int,
        resync_seconds: float,
    ) -> None:
        self._read_generation = read_generation
        self.max_entries = max_entries
        self.resync_seconds = resync_seconds
        # The current generation while listening; None: not listening, do not use.
        self.generation: str | None = None
        self._entries: dict[str, tuple[str, bytes]] = {}
        # Serializes reading the generation with taking a new one, so that a slow
        # resync can never put back the generation a change just replaced.
        self._lock = threading.Lock()
        self._started_for: tuple[int, object] | None = None
        self._stop = threading.Event()

    # --- the copy -------------------------------------------------------------------
    def get(self, key: str) -> tuple[bytes, str] | None:
        generation = self.generation
        entry = self._entries.get(key) if generation is not None else None
        if entry is None or entry[0] != generation:
            return None
        return entry[1], generation

    def put(self, key: str, generation: str, content: bytes) -> None:
        if generation != self.generation or generation is None:
            return  # read under another generation (or not listening): keep nothing
        entries = self._entries
        if len(entries) >= self.max_entries:
            # Forget the oldest entry (dicts keep insertion order), unless another
            # thread changes the dict meanwhile.
            with contextlib.suppress(StopIteration, RuntimeError):
                entries.pop(next(iter(entries)), None)
        entries[key] = (generation, content)

    def _take(self, generation: str | None) -> None:
        if generation != self.generation:
            self._entries = {}  # none of them can match again: free the memory
            self.generation = generation

    # --- news of changes -----------------------------------------------------------
    def changed(self, generation: str) -> None:
        """The catalog has a new generation (already in the shared cache): take it
        here at once and tell every other process."""
        backend = caches[DEFAULT_CACHE_ALIAS]
        if not isinstance(backend, RedisCache):
            return
        with self._lock:
            if self.generation is not None:
                self._take(generation)
        backend.redis().publish(backend.make_key(CHANNEL), b"changed")

    def listening(self) -> bool:
        """Whether the copy may be used; starts the listener in this process (and again
        after a fork or under another cache configuration)."""
        if not self._started_for_this(current := self._configuration()):
            self._start(current)
        return self.generation is not None

    @staticmethod
    def _configuration() -> tuple[int, object]:
        return os.getpid(), settings.CACHES[DEFAULT_CACHE_ALIAS]

    def _started_for_this(self, configuration: tuple[int, object]) -> bool:
        started = self._started_for
        return (
            started is not None
            and started[0] == configuration[0]
            and started[1] is configuration[1]
        )

    def _start(self, configuration: tuple[int, object]) -> None:
        with self._lock:
            if self._started_for_this(configuration):
                return  # another thread started it meanwhile
            self._stop.set()  # a thread of the former configuration ends on its own
            self._stop = threading.Event()
            self._take(None)
            self._started_for = configuration
            backend = caches[DEFAULT_CACHE_ALIAS]
            if not isinstance(backend, RedisCache):
                return
            threading.Thread(
                target=self._listen,
                args=(backend, self._stop),
                name="catalog-near-cache",
                daemon=True,
            ).start()

    def stop(self) -> None:
        """Stop listening and forget the copy (tests; a process that ends)."""
        with self._lock:
            self._stop.set()
            self._take(None)
            self._started_for = None

    def _resync(self, stop: threading.Event) -> None:
        with self._lock:
            if not stop.is_set():
                self._take(self._read_generation())

    def _listen(self, backend: RedisCache, stop: threading.Event) -> None:
        delay, failing = 0.5, False
        while not stop.is_set():
            pubsub = None
            try:
                pubsub = backend.redis().pubsub()
                pubsub.subscribe(backend.make_key(CHANNEL))
                deadline = time.monotonic() + SUBSCRIBE_SECONDS
                while (pubsub.get_message(timeout=1.0) or {}).get("type") != "subscribe":
                    if time.monotonic() > deadline:
                        raise TimeoutError("Redis did not confirm the subscription")
                # Subscribed first, read second: a change after this read is a message.
                self._resync(stop)
                if failing:
                    logger.info("catalog near cache: listening again")
                delay, failing = 0.5, False
                next_resync = time.monotonic() + self.resync_seconds
                while not stop.is_set():
                    wait = max(0.0, min(1.0, next_resync - time.monotonic()))
                    # A change, or redis-py's confirmation that it resubscribed after
                    # losing the connection (changes in between were not heard): reread.
                    message = pubsub.get_message(timeout=wait)
                    if message is not None:
                        while pubsub.get_message(timeout=0) is not None:
                            pass  # a burst of changes needs one reread
                    if message is not None or time.monotonic() >= next_resync:
                        self._resync(stop)
                        next_resync = time.monotonic() + self.resync_seconds
            except Exception:
                with self._lock:
                    if not stop.is_set():
                        self._take(None)  # deaf: stop using the copy
                if not failing:
                    logger.warning("catalog near cache: not listening, unused", exc_info=True)
                failing = True
                stop.wait(delay)
                delay = min(delay * 2, 10.0)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):  # the connection is gone anyway
                        pubsub.close()
