"""Prometheus metrics at /metrics. Apps add collectors in their `AppConfig.ready()`;
figures read from the database or the shared cache at scrape time are right for every
worker, while the counters of one process are that process's own."""

import contextlib
from collections.abc import Callable, Iterable
from hmac import compare_digest

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

registry = CollectorRegistry()


class _FunctionCollector(Collector):
    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()

    def describe(self) -> Iterable[Metric]:
        return []  # nothing to read at registration time: the database may not exist yet


def register_collector(collect: Callable[[], Iterable[Metric]]) -> None:
    """Add a function that yields metrics at every scrape."""
    registry.register(_FunctionCollector(collect))


def scraper_allowed(request: HttpRequest) -> bool:
    """An operator's scraper: an address in `METRICS_ALLOWED_ADDRESSES`, or the bearer
    of `METRICS_TOKEN` (compared in constant time)."""
    if request.META.get("REMOTE_ADDR") in settings.METRICS_ALLOWED_ADDRESSES:
        return True
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    token = settings.METRICS_TOKEN
    return bool(token) and scheme.lower() == "bearer" and compare_digest(presented, token)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, for operators only: sales, refunds and the breaker's state
    are not for the public (404, as for any page that is not there)."""
    if not scraper_allowed(request):
        raise Http404
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def cached_counts(key: str, count: Callable[[], dict]) -> dict:
    """`count()` at most once per `METRICS_COUNT_SECONDS` across every worker: the
    figures that need a scan of a growing table are not run at every scrape."""
    try:
        found = cache.get(f"metrics:{key}")
    except Exception:  # the cache is down: count, and say nothing more
        found = None
    if found is None:
        found = count()
        with contextlib.suppress(Exception):
            cache.set(f"metrics:{key}", found, settings.METRICS_COUNT_SECONDS)
    return found
