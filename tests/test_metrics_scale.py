"""/metrics over years of history: purchases and payments by method and status are exact
running totals that a scrape brings up to date from the last minutes' rows (a fixed
number of queries, each through an index), the outbox's figures read only its pending
and failed events, and a first count of big tables runs in the background."""

import re
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from payment.models import Payment
from purchase import metrics as purchase_metrics
from purchase.models import Purchase
from tests.conftest import make_user, make_vod
from tests.test_admin_scale import fill_history, on_postgres, seq_scans
from vodstore import metrics
from vodstore.models import OutboxEvent

FIGURES = ("metrics:purchases", "metrics:payments", "metrics:outbox")


@pytest.fixture
def scraper(client, settings):
    settings.METRICS_ALLOWED_ADDRESSES = ["127.0.0.1"]

    def scrape() -> str:
        response = client.get("/metrics")
        assert response.status_code == 200
        return response.content.decode()

    return scrape


def minute_passes() -> None:
    """The figures kept for METRICS_COUNT_SECONDS are gone: the next scrape counts."""
    cache.delete_many(FIGURES)


def samples(text: str, family: str) -> dict[tuple[str, ...], int]:
    found = {}
    for labels, value in re.findall(rf"^{family}\{{(.*)\}} (\S+)$", text, re.MULTILINE):
        key = tuple(re.findall(r'="([^"]*)"', labels))
        found[key] = int(float(value))
    return found


def exact(model, *labels: str) -> dict[tuple[str, ...], int]:
    rows = model.objects.values_list(*labels).annotate(n=Count("pk")).order_by()
    return {tuple(row[:-1]): row[-1] for row in rows}


def nonzero(figures: dict) -> dict:
    return {key: n for key, n in figures.items() if n}


def buy(user_client, vod, committed, method: str = "card") -> int:
    with committed():
        response = user_client.post(
            "/api/purchases/", {"vod": vod.id, "payment_method": method}, format="json"
        )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def cancel(user_client, purchase_id: int, committed) -> None:
    with committed():
        response = user_client.post(f"/api/purchases/{purchase_id}/cancel/")
    assert response.status_code == 200, response.content


def assert_figures_exact(text: str) -> None:
    assert nonzero(samples(text, "purchases")) == exact(Purchase, "payment_method", "status")
    assert nonzero(samples(text, "payments")) == exact(Payment, "method", "status")


# --- exact figures --------------------------------------------------------------------


@pytest.mark.django_db
def test_purchase_and_payment_figures_are_exact_through_buys_and_cancels(
    scraper, user_client, committed
):
    films = [make_vod(price=3000) for _ in range(4)]
    first = buy(user_client, films[0], committed)
    buy(user_client, films[1], committed)
    cancel(user_client, first, committed)

    text = scraper()  # the first count: the whole (small) tables

    assert_figures_exact(text)
    assert samples(text, "purchases")[("mileage", "cancelled")] == 0  # every pair shown
    third = buy(user_client, films[2], committed)
    cancel(user_client, third, committed)
    buy(user_client, films[3], committed)
    minute_passes()

    text = scraper()  # brought up to date from the tally

    assert_figures_exact(text)
    assert samples(text, "purchases")[("card", "cancelled")] == 2


@pytest.mark.django_db
def test_running_totals_count_every_fact_once_as_time_passes():
    buyer, film = make_user(), make_vod()
    t0 = timezone.now()

    def purchase(n: int, made, cancelled=None) -> None:
        Purchase.objects.create(
            user=buyer,
            vod_id=film.id + n,
            vod_title="x",
            payment_method="card",
            amount=1,
            status="cancelled" if cancelled else "paid",
        )
        Purchase.objects.filter(vod_id=film.id + n).update(created_at=made, cancelled_at=cancelled)

    def totals(now) -> dict:
        return dict(metrics.running_totals("purchases", purchase_metrics.FACTS, now=now))

    purchase(1, t0 - timedelta(hours=2))
    purchase(2, t0 - timedelta(hours=1), cancelled=t0 - timedelta(minutes=30))
    purchase(3, t0 - timedelta(minutes=1))  # not settled at t0: counted, not yet kept

    assert totals(t0) == {("made", "card"): 3, ("cancelled", "card"): 1}
    assert cache.get("metrics:tally:purchases").through == t0 - metrics.SETTLE
    # later: an old purchase cancelled, new ones made, one on the tally's very edge
    Purchase.objects.filter(vod_id=film.id + 1).update(
        status="cancelled", cancelled_at=t0 + timedelta(minutes=2)
    )
    purchase(4, t0 + timedelta(minutes=3))
    purchase(5, t0 - metrics.SETTLE)
    for later in (10, 10, 11, 30, 60 * 5):
        assert totals(t0 + timedelta(minutes=later)) == {
            ("made", "card"): 5,
            ("cancelled", "card"): 2,
        }


@pytest.mark.django_db
def test_a_row_written_with_an_old_time_is_counted_at_the_daily_recount():
    """An import (or a repair by hand) writes rows with a time before the tally's: they
    join the figures when the tables are next counted whole (`RECOUNT`)."""
    buyer, film = make_user(), make_vod()
    t0 = timezone.now()
    metrics.running_totals("purchases", purchase_metrics.FACTS, now=t0)
    Purchase.objects.create(
        user=buyer, vod_id=film.id, vod_title="x", payment_method="card", amount=1
    )
    Purchase.objects.update(created_at=t0 - timedelta(days=300))

    later = t0 + timedelta(minutes=10)
    assert not metrics.running_totals("purchases", purchase_metrics.FACTS, now=later)
    next_day = t0 + metrics.RECOUNT + timedelta(minutes=1)
    assert metrics.running_totals("purchases", purchase_metrics.FACTS, now=next_day) == {
        ("made", "card"): 1
    }


@pytest.mark.django_db
def test_the_outbox_figures_are_its_pending_and_failed_events_only(scraper):
    now = timezone.now()
    statuses = ["delivered"] * 5 + ["published"] * 4 + ["pending"] * 3 + ["failed"] * 2
    OutboxEvent.objects.bulk_create(
        OutboxEvent(
            id=uuid.uuid4(),
            type="VodPurchased",
            payload={},
            occurred_at=now,
            next_attempt_at=now,
            status=status,
        )
        for status in statuses
    )

    assert samples(scraper(), "outbox_events") == {("pending",): 3, ("failed",): 2}


# --- a scrape's queries ----------------------------------------------------------------


def scrape_queries(scrape) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        scrape()
    return [query["sql"] for query in ctx.captured_queries]


@pytest.mark.django_db
def test_a_scrape_takes_the_same_few_queries_whatever_the_history(scraper):
    fill_history(3)
    first = scrape_queries(scraper)
    minute_passes()
    few = scrape_queries(scraper)
    fill_history(40, "carol")
    minute_passes()

    many = scrape_queries(scraper)

    # the outbox's count, and one query per kind of fact: made, cancelled; approved, cancelled
    assert len(few) == len(many) == 5, many
    assert len(first) <= 5 + 4  # the first count (on PostgreSQL, four estimates first)
    assert scrape_queries(scraper) == []  # kept for METRICS_COUNT_SECONDS
    assert not any("purchase_purchase" in sql and ">=" not in sql for sql in many)


@on_postgres
@pytest.mark.django_db
def test_the_running_totals_read_only_the_last_minutes_through_their_indexes(scraper):
    fill_history(20)
    scraper()
    minute_passes()
    queries = [sql for sql in scrape_queries(scraper) if "vodstore_outboxevent" not in sql]

    assert len(queries) == 4
    assert seq_scans(queries) == []
    for sql in queries:
        assert "Index Cond" in plan(sql), sql  # a range of the index, not all of it


@on_postgres
@pytest.mark.django_db
def test_the_outbox_figures_read_only_the_partial_index(scraper):
    fill_history(20)
    queries = [sql for sql in scrape_queries(scraper) if "vodstore_outboxevent" in sql]

    assert len(queries) == 1
    assert seq_scans(queries) == []
    assert "outbox_unfinished" in plan(queries[0])


def plan(sql: str) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        text = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return text


# --- a first count of big tables -------------------------------------------------------


def wait_for_background_counts() -> None:
    deadline = time.monotonic() + 30
    while any(t.name.startswith("metrics-count-") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the background count never ended"
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_a_first_count_of_big_tables_runs_in_the_background(scraper, monkeypatch):
    fill_history(6)
    monkeypatch.setattr(metrics, "_small", lambda facts: False)  # as if millions of rows

    started = time.monotonic()
    text = scraper()

    assert time.monotonic() - started < 5
    assert "purchases{" not in text and "payments{" not in text  # not known yet
    assert "# HELP purchases " in text  # the family is there, without samples
    wait_for_background_counts()
    assert_figures_exact(scraper())


@pytest.mark.django_db
def test_while_the_cache_is_down_small_tables_are_counted_and_big_ones_left_out(
    scraper, monkeypatch
):
    fill_history(4)

    class DownCache:
        def __getattr__(self, name):
            def down(*args, **kwargs):
                raise ConnectionError("cache down")

            return down

    monkeypatch.setattr(metrics, "cache", DownCache())
    assert_figures_exact(scraper())
    monkeypatch.setattr(metrics, "_small", lambda facts: False)
    assert "purchases{" not in scraper()
