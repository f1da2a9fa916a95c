"""Rate limits counted in the shared cache: at most N attempts of one kind by one
client in each window, one atomic increment per attempt (a read, then a write would
let a concurrent burst through). With Redis every worker shares the count.

Used for purchases (per user), sign-ups (per client address) and the like; log-in
failures are counted by django-axes, which refuses before a password is hashed."""

import contextlib
import math
import time
from collections.abc import Iterator

from django.core.cache import cache

from vodstore.cache import count
from vodstore.errors import DomainError

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class RateLimited(DomainError):
    status_code = 429
    code = "throttled"
    default_detail = "Too many requests, please try again later."


def parse_rate(rate: str) -> tuple[int, int]:
    """ "30/min" -> (30, 60): attempts, and the window in seconds."""
    number, _, period = rate.partition("/")
    return int(number), PERIODS[period.strip()[:1]]


@contextlib.contextmanager
def attempt(
    *,
    scope: str,
    who: object,
    rate: str,
    refused: type[DomainError] = RateLimited,
    give_back: tuple[type[BaseException], ...] = (),
) -> Iterator[None]:
    """Count one attempt of `scope` by `who` for the block, or raise `refused` with
    `retry_after`. An attempt that ends in one of `give_back` is not counted."""
    limit, window = parse_rate(rate)
    now = time.time()
    key = f"rate:{scope}:{who}:{int(now // window)}"
    if count(key, window) > limit:
        _give_back(key)  # a refused attempt is not an attempt
        raise refused(retry_after=max(1, math.ceil(window - now % window)))
    try:
        yield
    except give_back:
        _give_back(key)
        raise


def _give_back(key: str) -> None:
    with contextlib.suppress(Exception):  # expired, or the cache is what is down
        cache.decr(key)
