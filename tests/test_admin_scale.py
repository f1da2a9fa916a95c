"""Admin's lists over years of history: no page counts, sorts or lists the distinct values
of a whole table (query counts, on SQLite and PostgreSQL), each of their queries is
served by an index (EXPLAIN on PostgreSQL), the count is PostgreSQL's estimate past a
bound and exact below it, filters have fixed choices, searches find exactly."""

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mileage.models import MileageAccount, MileageEntry
from payment.models import Operation, Payment
from purchase.models import Purchase
from tests.conftest import make_user, make_vod
from vodstore import admin_lists, wiring
from vodstore.admin_lists import EstimatingPaginator
from vodstore.models import GroupRetry, OutboxEvent

pytestmark = pytest.mark.django_db

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="EXPLAIN's plans are PostgreSQL's; SQLite has no planner statistics to test",
)
# the tables that grow with the store's history (and its users)
BIG_TABLES = {
    "purchase_purchase",
    "payment_payment",
    "payment_operation",
    "mileage_mileageentry",
    "mileage_mileageaccount",
    "vodstore_outboxevent",
    "vodstore_eventdelivery",
    "vodstore_groupretry",
    "auth_user",
}
EVENT_ID = uuid.UUID("8f0c6d1e-0000-4000-8000-000000000001")


def fill_history(rows: int, buyer_name: str = "alice") -> dict:
    """`rows` purchases of a buyer (one in ten with points, one in five cancelled), their
    payments, authorizations and ledger entries, three outbox events each, and a failed
    retry: written in bulk, as a store's history would be after years. The first
    buyer's first entry and event have the id `EVENT_ID`."""
    first = not OutboxEvent.objects.filter(pk=EVENT_ID).exists()
    buyer = make_user(buyer_name)
    film = make_vod(title="Midnight Harbor" if first else f"Film of {buyer_name}")
    MileageAccount.objects.create(user=buyer, balance=0)
    now = timezone.now()
    purchases = Purchase.objects.bulk_create(
        Purchase(
            user=buyer,
            vod_id=film.id + n,
            vod_title=f"Film {n}",
            status="cancelled" if n % 5 == 0 else "paid",
            payment_method="mileage" if n % 10 == 3 else "card",
            amount=4500,
            cancelled_at=now if n % 5 == 0 else None,
        )
        for n in range(rows)
    )
    Purchase.objects.filter(pk=purchases[0].pk).update(vod_id=film.id)
    operations = Operation.objects.bulk_create(
        Operation(
            kind="authorize",
            state="succeeded",
            gateway="fake",
            amount=4500,
            user=buyer,
            reference=f"ch_{p.pk}",
            purchase_id=p.pk,
        )
        for p in purchases
    )
    Payment.objects.bulk_create(
        Payment(
            purchase_id=p.pk,
            user=buyer,
            method=p.payment_method,
            amount=p.amount,
            status="cancelled" if p.status == "cancelled" else "approved",
            gateway="fake",
            gateway_reference=f"ch_{p.pk}",
            authorization=op,
            approved_at=now,
            cancelled_at=p.cancelled_at,
        )
        for p, op in zip(purchases, operations, strict=True)
    )
    MileageEntry.objects.bulk_create(
        MileageEntry(
            account_id=buyer.pk,
            delta=1000,
            reason="earned",
            purchase_id=p.pk,
            event_id=EVENT_ID if first and n == 0 else uuid.uuid4(),
        )
        for n, p in enumerate(purchases)
    )
    types = [entry.type for entry in wiring.CATALOGUE]
    events = OutboxEvent.objects.bulk_create(
        OutboxEvent(
            id=EVENT_ID if first and n == 0 else uuid.uuid4(),
            type=types[n % len(types)],
            payload={},
            occurred_at=now - timedelta(seconds=n),
            next_attempt_at=now,
            status="failed" if n % 7 == 0 else "delivered",
        )
        for n in range(rows * 3)
    )
    GroupRetry.objects.create(event=events[0], group="mileage", next_attempt_at=now)
    GroupRetry.objects.create(event=events[-1], group="payment", next_attempt_at=now)
    return {"buyer": buyer, "film": film, "purchases": purchases}


# Each list: plain, with a filter, with a search (ids and names the history above holds).
LISTS = {
    "purchases": [
        "/admin/purchase/purchase/",
        "/admin/purchase/purchase/?status__exact=cancelled",
        "/admin/purchase/purchase/?payment_method__exact=mileage&created_at__gte=2000-01-01T00:00:00%2B00:00",
        "/admin/purchase/purchase/?q=alice",
        "/admin/purchase/purchase/?q=Midnight",
        "/admin/purchase/purchase/?o=1",
    ],
    "payments": [
        "/admin/payment/payment/",
        "/admin/payment/payment/?status__exact=cancelled",
        "/admin/payment/payment/?q=alice",
        "/admin/payment/payment/?q=ch_1",
    ],
    "operations": [
        "/admin/payment/operation/",
        "/admin/payment/operation/?state__exact=failed",
        "/admin/payment/operation/?kind__exact=refund",
        "/admin/payment/operation/?q=ch_1",
    ],
    "ledger": [
        "/admin/mileage/mileageentry/",
        "/admin/mileage/mileageentry/?reason__exact=spent",
        "/admin/mileage/mileageentry/?reason__exact=refunded",
        "/admin/mileage/mileageentry/?q=alice",
        f"/admin/mileage/mileageentry/?q={EVENT_ID}",
    ],
    "accounts": [
        "/admin/mileage/mileageaccount/",
        "/admin/mileage/mileageaccount/?q=alice",
    ],
    "outbox": [
        "/admin/vodstore/outboxevent/",  # needs `outbox_recent`
        "/admin/vodstore/outboxevent/?status__exact=failed",  # needs `outbox_unfinished`
        "/admin/vodstore/outboxevent/?type=PaymentApproved",
        "/admin/vodstore/outboxevent/?q=paymentapproved",
        f"/admin/vodstore/outboxevent/?q={EVENT_ID}",
    ],
    "deliveries": [
        "/admin/vodstore/groupretry/",
        "/admin/vodstore/groupretry/?group=mileage&status__exact=pending",
        f"/admin/vodstore/outboxevent/{EVENT_ID}/change/",  # its deliveries and retries
    ],
}
EVERY_URL = [url for urls in LISTS.values() for url in urls]


def page_queries(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return [query["sql"] for query in ctx.captured_queries]


def whole_table_reads(queries: list[str]) -> list[str]:
    """Queries that read every row however the table is indexed: a count without a
    bound, a list of distinct values."""
    return [
        sql
        for sql in queries
        if ("COUNT(" in sql.upper() and " LIMIT " not in sql.upper())
        or "SELECT DISTINCT" in sql.upper()
    ]


# --- query counts: the same for one row and for many, none reads a whole table --------


@pytest.mark.parametrize("url", EVERY_URL)
def test_a_list_takes_the_same_queries_for_one_row_or_many(admin_client, url):
    fill_history(1)
    page_queries(admin_client, url)  # the process's caches (content types) filled
    few = page_queries(admin_client, url)
    fill_history(30, "carol")

    many = page_queries(admin_client, url)

    assert len(many) == len(few), url
    assert len(few) <= 6, few
    assert whole_table_reads(few + many) == []


@pytest.mark.parametrize("url", EVERY_URL)
def test_no_list_counts_or_lists_distinct_values_of_a_whole_table(admin_client, url):
    fill_history(40)

    queries = page_queries(admin_client, url)

    assert whole_table_reads(queries) == []
    assert len(queries) <= 6, queries


# --- the count: exact when small, PostgreSQL's estimate when large --------------------


def test_a_small_list_is_counted_exactly(admin_client):
    fill_history(12)
    paginator = EstimatingPaginator(Purchase.objects.all(), 5)

    assert paginator.count == 12 and not paginator.estimated
    page = admin_client.get("/admin/purchase/purchase/").content.decode()
    assert "12 purchases" in page and "about" not in page


def test_past_the_bound_the_count_is_the_estimate(admin_client, monkeypatch):
    fill_history(12)
    monkeypatch.setattr(admin_lists, "EXACT_UP_TO", 10)
    monkeypatch.setattr(admin_lists, "planner_rows", lambda queryset: 2_500_000)
    paginator = EstimatingPaginator(Purchase.objects.all(), 100)

    assert paginator.count == 2_500_000 and paginator.estimated
    assert paginator.num_pages == admin_lists.DEEPEST_PAGE and paginator.pages_cut
    page = admin_client.get("/admin/purchase/purchase/").content.decode()
    assert "about 2500000 purchases" in page
    assert "filter, search or reverse the sort for older ones" in page
    # a page past the newest ones offered is a redirect to the first, not a deep scan
    response = admin_client.get(f"/admin/purchase/purchase/?p={admin_lists.DEEPEST_PAGE + 5}")
    assert response.status_code == 302


def test_an_estimate_below_what_was_counted_is_not_believed(monkeypatch):
    fill_history(12)
    monkeypatch.setattr(admin_lists, "EXACT_UP_TO", 10)
    monkeypatch.setattr(admin_lists, "planner_rows", lambda queryset: 3)

    assert EstimatingPaginator(Purchase.objects.all(), 100).count == 11


def test_without_an_estimate_the_count_is_exact(monkeypatch):
    """SQLite has no planner statistics: past the bound, an exact count."""
    fill_history(12)
    monkeypatch.setattr(admin_lists, "EXACT_UP_TO", 10)
    monkeypatch.setattr(admin_lists, "planner_rows", lambda queryset: None)
    paginator = EstimatingPaginator(Purchase.objects.all(), 100)

    assert paginator.count == 12 and not paginator.estimated


@on_postgres
def test_postgresql_estimates_a_big_table_from_its_statistics(monkeypatch):
    fill_history(60)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE purchase_purchase")
    monkeypatch.setattr(admin_lists, "EXACT_UP_TO", 10)
    paginator = EstimatingPaginator(Purchase.objects.all(), 100)

    assert paginator.count == 60 and paginator.estimated
    cancelled = EstimatingPaginator(Purchase.objects.filter(status="cancelled"), 100)
    assert 11 <= cancelled.count <= 60 and cancelled.estimated


# --- filters with fixed choices ----------------------------------------------------------


def test_the_outbox_type_filter_offers_the_event_catalogue_without_reading_events(
    admin_client,
):
    fill_history(3)
    OutboxEvent.objects.filter(pk=EVENT_ID).update(type="SomethingOld")

    queries = page_queries(admin_client, "/admin/vodstore/outboxevent/")
    page = admin_client.get("/admin/vodstore/outboxevent/").content.decode()

    for entry in wiring.CATALOGUE:
        assert f"?type={entry.type}" in page
    assert "?type=SomethingOld" not in page  # not a type of the catalogue
    assert not any("DISTINCT" in sql.upper() for sql in queries)
    filtered = admin_client.get("/admin/vodstore/outboxevent/?type=PaymentApproved")
    shown = filtered.context["cl"].result_list
    assert shown and {event.type for event in shown} == {"PaymentApproved"}


def test_the_retry_group_filter_offers_the_consuming_apps(admin_client):
    fill_history(1)

    page = admin_client.get("/admin/vodstore/groupretry/").content.decode()

    for group in wiring.routes():
        assert f"?group={group}" in page
    mileage = admin_client.get("/admin/vodstore/groupretry/?group=mileage").context["cl"]
    assert [retry.group for retry in mileage.result_list] == ["mileage"]
    assert (
        not admin_client.get("/admin/vodstore/groupretry/?group=purchase").context["cl"].result_list
    )


def test_no_long_list_offers_facet_counts(admin_client):
    fill_history(3)

    queries = page_queries(admin_client, "/admin/purchase/purchase/?_facets=1")

    assert whole_table_reads(queries) == []


# --- searches that find exactly -------------------------------------------------------


def shown(client, url: str) -> set:
    return {obj.pk for obj in client.get(url).context["cl"].result_list}


def test_purchases_are_found_by_number_exact_username_or_film_title(admin_client):
    history = fill_history(5)
    purchases = history["purchases"]
    other = make_user("alicia")
    theirs = Purchase.objects.create(
        user=other, vod_id=999_999, vod_title="Other", payment_method="card", amount=1
    )
    everyone_of_alice = {p.pk for p in purchases}

    assert shown(admin_client, f"/admin/purchase/purchase/?q={purchases[2].pk}") == {
        purchases[2].pk
    }
    assert shown(admin_client, "/admin/purchase/purchase/?q=alice") == everyone_of_alice
    assert shown(admin_client, "/admin/purchase/purchase/?q=alicia") == {theirs.pk}
    assert shown(admin_client, "/admin/purchase/purchase/?q=ali") == set()  # not a prefix
    # the film's title, through the catalog's title search (case and spaces ignored)
    assert shown(admin_client, "/admin/purchase/purchase/?q=midnight+harbor") == {purchases[0].pk}
    # a number too big for any id is no error
    assert shown(admin_client, f"/admin/purchase/purchase/?q={10**30}") == set()


def test_payments_and_operations_are_found_by_reference_purchase_or_username(admin_client):
    purchases = fill_history(5)["purchases"]
    payment = Payment.objects.get(purchase_id=purchases[3].pk)
    operation = payment.authorization

    assert shown(admin_client, f"/admin/payment/payment/?q=ch_{purchases[3].pk}") == {payment.pk}
    assert shown(admin_client, f"/admin/payment/payment/?q={purchases[3].pk}") == {payment.pk}
    assert len(shown(admin_client, "/admin/payment/payment/?q=alice")) == 5
    assert shown(admin_client, "/admin/payment/payment/?q=ch_") == set()  # exact only
    assert shown(admin_client, f"/admin/payment/operation/?q=ch_{purchases[3].pk}") == {
        operation.pk
    }
    assert shown(admin_client, f"/admin/payment/operation/?q={operation.key}") == {operation.pk}
    assert shown(admin_client, f"/admin/payment/operation/?q={purchases[3].pk}") == {operation.pk}


def test_ledger_entries_are_found_by_purchase_event_or_username(admin_client):
    purchases = fill_history(5)["purchases"]
    first = MileageEntry.objects.get(event_id=EVENT_ID)
    make_user("bob")

    assert shown(admin_client, f"/admin/mileage/mileageentry/?q={EVENT_ID}") == {first.pk}
    assert shown(admin_client, f"/admin/mileage/mileageentry/?q={EVENT_ID.hex}") == {first.pk}
    entry = MileageEntry.objects.get(purchase_id=purchases[4].pk)
    assert shown(admin_client, f"/admin/mileage/mileageentry/?q={purchases[4].pk}") == {entry.pk}
    assert len(shown(admin_client, "/admin/mileage/mileageentry/?q=alice")) == 5
    assert shown(admin_client, "/admin/mileage/mileageentry/?q=bob") == set()
    accounts = shown(admin_client, "/admin/mileage/mileageaccount/?q=alice")
    assert accounts == {purchases[0].user_id}


def test_outbox_events_are_found_by_id_or_type(admin_client):
    fill_history(4)

    assert shown(admin_client, f"/admin/vodstore/outboxevent/?q={EVENT_ID}") == {EVENT_ID}
    by_type = admin_client.get("/admin/vodstore/outboxevent/?q=vodpurchased")
    assert {event.type for event in by_type.context["cl"].result_list} == {"VodPurchased"}
    assert shown(admin_client, "/admin/vodstore/outboxevent/?q=Purchased") == set()


def test_the_search_box_says_what_it_finds(admin_client):
    page = admin_client.get("/admin/purchase/purchase/").content.decode()

    assert "exact username" in page


# --- PostgreSQL: every query of every list is served by an index ---------------------


def seq_scans(queries: list[str]) -> list[str]:
    """The big tables a query reads whole, by PostgreSQL's plan with sequential scans
    priced out (`enable_seqscan = off`): on tables this small the planner would rather
    read them whole, but it still plans a Seq Scan where no index can serve."""
    found = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for sql in queries:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            found += [
                f"{table}: {sql}"
                for table in re.findall(r"Seq Scan on (\w+)", plan)
                if table in BIG_TABLES
            ]
        transaction.set_rollback(True)  # and with it, the setting
    return found


def explained(name: str) -> list:
    """The lists of `name` as test cases on PostgreSQL."""
    return [pytest.param(url, marks=[on_postgres], id=url) for url in LISTS[name]]


@pytest.mark.parametrize(
    "url",
    [
        *explained("purchases"),
        *explained("payments"),
        *explained("operations"),
        *explained("ledger"),
        *explained("accounts"),
        *explained("outbox"),
        *explained("deliveries"),
    ],
)
def test_every_query_of_a_list_is_served_by_an_index(admin_client, url):
    fill_history(20)

    assert seq_scans(page_queries(admin_client, url)) == []


@on_postgres
def test_the_check_catches_a_query_no_index_serves(admin_client):
    fill_history(3)

    with CaptureQueriesContext(connection) as ctx:  # the list's old search: icontains
        Purchase.objects.filter(vod_title__icontains="harbor").count()

    assert seq_scans([query["sql"] for query in ctx.captured_queries])


@on_postgres
def test_a_reason_of_the_ledger_is_read_through_its_own_index(admin_client):
    """Points returned are a few entries in a million: found through `entry_recent`
    (newest first, then each entry's reason looked at), the list and its bounded count
    read the ledger until enough match; `entry_reason_recent` starts at them."""
    fill_history(20)
    queries = page_queries(admin_client, "/admin/mileage/mileageentry/?reason__exact=refunded")
    ledger = [sql for sql in queries if 'FROM "mileage_mileageentry"' in sql]

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plans = []
        for sql in ledger:
            cursor.execute(f"EXPLAIN {sql}")
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
        transaction.set_rollback(True)

    assert ledger
    assert all("entry_reason_recent" in plan for plan in plans), plans


@on_postgres
def test_the_sales_overview_reads_its_days_through_indexes(admin_client):
    fill_history(5)

    queries = page_queries(admin_client, reverse("admin:purchase_sales"))

    assert seq_scans(queries) == []


def test_an_accounts_page_shows_its_latest_entries_whatever_its_history(admin_client):
    """An inline of every ledger entry made a busy buyer's account page take seconds:
    the page shows the newest LATEST_ENTRIES and links to the rest, in the same number
    of queries for 5 entries as for 45."""
    from mileage.admin import LATEST_ENTRIES

    user = make_user("many")
    account = MileageAccount.objects.create(user=user, balance=0)
    url = reverse("admin:mileage_mileageaccount_change", args=[account.pk])
    counts = []
    for total in (5, 45):
        for n in range(total - MileageEntry.objects.filter(account=account).count()):
            MileageEntry.objects.create(
                account=account,
                delta=1000,
                reason=MileageEntry.Reason.EARNED,
                purchase_id=10_000 + n + total,
                event_id=uuid.uuid4(),
            )
        admin_client.get(url)
        with CaptureQueriesContext(connection) as seen:
            page = admin_client.get(url).content.decode()
        counts.append(len(seen.captured_queries))
        shown = page.count("+1,000 points")
        assert shown == min(total, LATEST_ENTRIES)
    assert counts[0] == counts[1]
    assert "/admin/mileage/mileageentry/?q=many" in page
    assert "All of this account&#x27;s entries in the ledger" in page
