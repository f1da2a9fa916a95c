"""Prometheus metrics at /metrics. Apps add collectors in their `AppConfig.ready()`;
figures read from the database or the shared cache at scrape time are right for every
worker, while the counters of one process are that process's own."""

from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse
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


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
