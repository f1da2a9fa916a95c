"""Prometheus metrics at /metrics. Apps add collectors in their `AppConfig.ready()`;
figures read from the database or the shared cache at scrape time are right for every
worker, while the counters of one process are that process's own.

A scrape never reads a whole table. Figures over the store's history (purchases and
payments by method and status) are running totals: counted once, then brought up to
date from an index of their rows' times (see `running_totals`); the outbox's pending
and failed events are read through a partial index that holds only them."""

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from hmac import compare_digest

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.db.models import Count, Model, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vodstore.rowcounts import planner_rows
from vodstore.vocabulary import PaymentMethod

logger = logging.getLogger(__name__)

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


# --- running totals -------------------------------------------------------------------

# A row's time (`created_at`, `cancelled_at`, ...) is taken in the transaction that
# writes it, and those transactions are short (no network call inside them): once this
# much older than now, a row that will ever commit has committed.
SETTLE = timedelta(minutes=5)
# The whole tables are counted again this often (in the background when they are big),
# so that a row written with an older time (an import, a repair by hand) is counted.
RECOUNT = timedelta(days=1)
# Up to this many rows (PostgreSQL's estimate; always on SQLite) a first count runs
# during the scrape; past it, in the background while the scrape leaves the figure out.
COUNT_NOW_UP_TO = 200_000
COUNTING_LOCK_SECONDS = 15 * 60  # one worker counts a big table at a time


@dataclass(frozen=True)
class Facts:
    """Facts with a time, counted by label: the rows of `rows()` by the values of
    `labels`, each at the time in its field `at`. `at` needs an index (with the same
    condition as `rows()`) so that the rows since a time are found without a scan."""

    name: str
    rows: Callable[[], QuerySet]
    at: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Tally:
    """Every fact before `through` (None: none counted yet), by (fact name, *labels);
    `counted_at` is when the tables were last counted whole."""

    through: datetime | None
    counted_at: datetime
    totals: Counter = field(default_factory=Counter)


def running_totals(key: str, facts: Iterable[Facts], *, now: datetime | None = None):
    """The number of every fact of `facts` ever, by (fact name, *labels), or None while
    a first count of big tables is under way in the background.

    The tally of the facts up to a settled time (`SETTLE` ago) is kept in the cache; each
    call counts only the facts since that time, through their time's index: those up to
    the new settled time join the tally, the newer ones are added to the answer. One
    query per kind of fact, whatever the history."""
    facts = tuple(facts)
    now = now or timezone.now()
    state_key = f"metrics:tally:{key}"
    try:
        tally = cache.get(state_key)
    except Exception:  # the cache is down: nothing can be kept, so count it all now or never
        logger.warning("cache unavailable; %s counted without a tally", key, exc_info=True)
        return sum(_count_since(facts, None, now), Counter()) if _small(facts) else None
    if tally is None or now - tally.counted_at > RECOUNT:
        if _small(facts):
            tally = Tally(through=None, counted_at=now)  # counted whole, right here
        else:
            _count_in_background(key, facts)  # the figures go on from the old tally, if any
    if tally is None:
        return None
    settled = max(now - SETTLE, tally.through or now - SETTLE)
    old, recent = _count_since(facts, tally.through, settled)
    tally = Tally(settled, tally.counted_at, tally.totals + old)
    with contextlib.suppress(Exception):
        cache.set(state_key, tally, None)
    return tally.totals + recent


def _count_since(
    facts: tuple[Facts, ...], since: datetime | None, settled: datetime
) -> tuple[Counter, Counter]:
    """The facts from `since` (all of them: None) by label: those before `settled`, and
    those from it on."""
    old: Counter = Counter()
    recent: Counter = Counter()
    for fact in facts:
        rows = fact.rows()
        if since is not None:
            rows = rows.filter(**{f"{fact.at}__gte": since})
        # a row without a time (none should be) counts as settled
        before = Q(**{f"{fact.at}__lt": settled}) | Q(**{f"{fact.at}__isnull": True})
        counts = (
            rows.values(*fact.labels)
            .order_by()
            .annotate(old=Count("pk", filter=before), recent=Count("pk", filter=~before))
        )
        for row in counts:
            label = (fact.name, *(row[name] for name in fact.labels))
            old[label] += row["old"]
            recent[label] += row["recent"]
    return +old, +recent


def _small(facts: tuple[Facts, ...]) -> bool:
    """Small enough to count whole during a scrape (SQLite, the embedded store: always)."""
    estimates = [planner_rows(fact.rows()) for fact in facts]
    return all(n is None for n in estimates) or sum(n or 0 for n in estimates) <= COUNT_NOW_UP_TO


_counting: set[str] = set()  # this process's background counts under way
_counting_lock = threading.Lock()


def _count_in_background(key: str, facts: tuple[Facts, ...]) -> threading.Thread | None:
    """Count the whole tables of `facts` in a thread of this process, unless this or
    another worker already is; the tally is in the cache when it is done."""
    with _counting_lock:
        if key in _counting:
            return None
        _counting.add(key)
    try:
        mine = cache.add(f"metrics:counting:{key}", True, COUNTING_LOCK_SECONDS)
    except Exception:
        mine = False
    if not mine:
        with _counting_lock:
            _counting.discard(key)
        return None
    thread = threading.Thread(
        target=_count_and_keep, args=(key, facts), name=f"metrics-count-{key}", daemon=True
    )
    thread.start()
    return thread


def _count_and_keep(key: str, facts: tuple[Facts, ...]) -> None:
    try:
        now = timezone.now()
        totals, _ = _count_since(facts, None, now - SETTLE)
        cache.set(f"metrics:tally:{key}", Tally(now - SETTLE, now, totals), None)
    except Exception:
        logger.exception("counting %s for /metrics failed; the next scrape tries again", key)
    finally:
        with contextlib.suppress(Exception):
            cache.delete(f"metrics:counting:{key}")
        with _counting_lock:
            _counting.discard(key)
        connections.close_all()  # this thread's own connections


# --- purchases and payments: made, and perhaps cancelled since ------------------------


def cancellable_facts(model: type[Model], *, made_at: str, method: str) -> tuple[Facts, Facts]:
    """The rows of `model` made (at `made_at`) and the cancelled ones (status
    "cancelled", at `cancelled_at`), by payment method (field `method`): purchases and
    payments alike. Both times need an index."""
    return (
        Facts("made", model._default_manager.all, made_at, (method,)),
        Facts(
            "cancelled",
            lambda: model._default_manager.filter(status="cancelled"),
            "cancelled_at",
            (method,),
        ),
    )


def by_method_and_status(
    name: str, description: str, facts: tuple[Facts, Facts], *, kept: str
) -> GaugeMetricFamily:
    """The gauge `name`{method, status} of `cancellable_facts`: status `kept` (made and
    not cancelled) and "cancelled", every pair shown. Exact running totals, brought up
    to date at most once per `METRICS_COUNT_SECONDS`."""

    def count() -> dict | None:
        totals = running_totals(name, facts)
        if totals is None:
            return None
        figures = {}
        for method in PaymentMethod.values:
            cancelled = totals[("cancelled", method)]
            figures[(method, kept)] = totals[("made", method)] - cancelled
            figures[(method, "cancelled")] = cancelled
        return figures

    family = GaugeMetricFamily(
        name,
        f"{description} Exact running totals (no table scan), up to date as of at most "
        "METRICS_COUNT_SECONDS ago; absent while a first count of a big table runs in "
        "the background.",
        labels=["method", "status"],
    )
    for (method, status), n in (cached_counts(name, count) or {}).items():
        family.add_metric([method, status], n)
    return family


# --- the outbox -----------------------------------------------------------------------


def collect_outbox() -> Iterator[Metric]:
    """Outbox events awaiting delivery or given up, by status (pending ones await a
    handler or the relay)."""
    from vodstore.models import OutboxEvent  # here: this module loads before the models

    family = GaugeMetricFamily(
        "outbox_events",
        "Outbox events awaiting delivery or given up, by status.",
        labels=["status"],
    )
    waiting = (OutboxEvent.Status.PENDING, OutboxEvent.Status.FAILED)

    def count() -> dict:
        # Only these two: the delivered and published events are nearly all of the
        # table, and the partial index `outbox_unfinished` holds exactly these.
        rows = OutboxEvent.objects.filter(status__in=waiting)
        return dict(rows.values_list("status").annotate(n=Count("pk")).order_by())

    counts = cached_counts("outbox", count)
    for status in waiting:
        family.add_metric([status], counts.get(status, 0))
    yield family
