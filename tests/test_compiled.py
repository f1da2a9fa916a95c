"""Querysets compiled once per connection (`vodstore.compiled`): the same SQL, rows and
instances as the ORM's, on both databases, and a shape that cannot be kept is refused."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from purchase import selectors
from purchase.models import Purchase, WatchProgress
from purchase.services import purchase_cancel, purchase_create
from tests.conftest import make_user, make_vod
from vodstore.compiled import Compiled

pytestmark = pytest.mark.django_db


def fields_of(instance) -> dict:
    return {k: v for k, v in vars(instance).items() if not k.startswith("_")}


@pytest.fixture
def buyer_with_history(committed):
    """Five purchases, one cancelled, two with progress (one finished, one not)."""
    buyer, other = make_user(), make_user()
    with committed():
        purchases = [
            purchase_create(user_id=buyer.id, vod_id=make_vod().id).purchase for _ in range(5)
        ]
        purchase_create(user_id=other.id, vod_id=make_vod().id)
        purchase_cancel(user_id=buyer.id, purchase_id=purchases[1].id)
    WatchProgress.objects.create(purchase=purchases[2], position_seconds=30, duration_seconds=60)
    WatchProgress.objects.create(purchase=purchases[3], position_seconds=60, duration_seconds=60)
    return buyer


def orm_and_compiled(shape: Compiled, orm, **values):
    """The ORM's rows and statement, and the compiled shape's (one query, seen as any)."""
    expected = list(orm)
    with CaptureQueriesContext(connection) as seen:
        got = shape.rows(limit=orm.query.high_mark, **values)
    assert len(seen.captured_queries) == 1
    orms = orm.query.get_compiler("default").as_sql()
    kept = shape.statement(limit=orm.query.high_mark, **values)
    return expected, got, (orms[0], tuple(orms[1])), (kept[0], tuple(kept[1]))


@pytest.mark.parametrize("limit", [None, 2, 26])
def test_a_users_purchases_with_their_progress_as_the_orm_reads_them(buyer_with_history, limit):
    buyer = buyer_with_history
    orm = selectors.purchase_list(user_id=buyer.id).select_related("progress")
    if limit is not None:
        orm = orm[:limit]

    expected, got, orms, kept = orm_and_compiled(
        selectors.PURCHASES_WITH_PROGRESS, orm, user_id=buyer.id
    )

    assert kept == orms
    assert [p.pk for p in got] == [p.pk for p in expected] and got
    for read, want in zip(got, expected, strict=True):
        assert fields_of(read) == fields_of(want)
        assert read._state.db == "default" and not read._state.adding
        progress, wanted = getattr(read, "progress", None), getattr(want, "progress", None)
        assert (progress and fields_of(progress)) == (wanted and fields_of(wanted))
    with_progress = sum(hasattr(p, "progress") for p in got)
    assert with_progress == sum(hasattr(p, "progress") for p in expected)
    assert with_progress == (1 if limit == 2 else 2)


def test_each_call_reads_its_own_values(buyer_with_history):
    buyer = buyer_with_history
    others = Purchase.objects.exclude(user=buyer).values_list("user_id", flat=True)
    mine = selectors.PURCHASES_WITH_PROGRESS.rows(user_id=buyer.id)
    theirs = selectors.PURCHASES_WITH_PROGRESS.rows(user_id=others[0])
    assert {p.user_id for p in mine} == {buyer.id} and len(mine) == 5
    assert {p.user_id for p in theirs} == {others[0]} and len(theirs) == 1
    owned = selectors.OWNED_WITH_PROGRESS.rows(user_id=buyer.id)
    assert len(owned) == 4 and {p.status for p in owned} == {"paid"}


def test_a_time_goes_to_the_database_as_the_orm_sends_it(buyer_with_history):
    """On SQLite a time is text: the value is adapted as the ORM adapts it."""
    since = Compiled(
        lambda since: WatchProgress.objects.filter(updated_at__gte=since).order_by("id"),
        since=timezone.now() - timedelta(days=3650),
    )
    assert len(since.rows(since=timezone.now() - timedelta(hours=1))) == 2
    assert since.rows(since=timezone.now() + timedelta(hours=1)) == []


def test_annotations_are_set_as_the_orm_sets_them(buyer_with_history):
    shape = Compiled(
        lambda user_id: Purchase.objects.filter(user_id=user_id).annotate(twice=F("amount") * 2),
        user_id=-1,
    )
    got = shape.rows(user_id=buyer_with_history.id)
    assert got and all(p.twice == 2 * p.amount for p in got)


def test_first_is_the_orms_first(buyer_with_history):
    buyer = buyer_with_history
    film = Purchase.objects.filter(user=buyer, status="paid").first().vod_id
    assert selectors.purchase_of_vod(user_id=buyer.id, vod_id=film).vod_id == film
    cancelled = Purchase.objects.get(user=buyer, status="cancelled").vod_id
    assert selectors.purchase_of_vod(user_id=buyer.id, vod_id=cancelled) is None


def test_a_placeholder_that_is_not_one_parameter_is_refused():
    twice = Compiled(
        lambda user_id: Purchase.objects.filter(user_id=user_id, vod_id=user_id), user_id=-1
    )
    with pytest.raises(ValueError, match="not one parameter"):
        twice.rows(user_id=1)
    constant = Compiled(lambda user_id: Purchase.objects.filter(user_id=7), user_id=-1)
    with pytest.raises(ValueError, match="not one parameter"):
        constant.rows(user_id=1)


def test_values_must_be_the_shapes_own():
    with pytest.raises(TypeError):
        selectors.PURCHASES_WITH_PROGRESS.rows(user=1)


def test_prefetching_is_refused():
    shape = Compiled(
        lambda user_id: Purchase.objects.filter(user_id=user_id).prefetch_related("progress"),
        user_id=-1,
    )
    with pytest.raises(ValueError, match="no prefetching"):
        shape.rows(user_id=1)


def test_a_values_list_shape_gives_the_orms_tuples(buyer_with_history):
    buyer = buyer_with_history
    assert selectors.owned_count(user_id=buyer.id) == 4
    assert (
        selectors.owned_count(user_id=buyer.id)
        == Purchase.objects.filter(user=buyer, status="paid").count()
    )
    assert selectors.owned_count(user_id=-5) == 0
    titles = Compiled(
        lambda user_id: Purchase.objects.filter(user_id=user_id).values_list("id", "vod_title"),
        user_id=-1,
    )
    orm = list(Purchase.objects.filter(user=buyer).values_list("id", "vod_title"))
    assert titles.rows(user_id=buyer.id) == orm


def test_continue_watching_compiled_is_the_orms(buyer_with_history):
    buyer = buyer_with_history
    expected = list(selectors.continue_watching(user_id=buyer.id)[:6])
    got = selectors.CONTINUE_WATCHING.rows(limit=6, user_id=buyer.id)
    assert [fields_of(w) for w in got] == [fields_of(w) for w in expected] and got
    assert [fields_of(w.purchase) for w in got] == [fields_of(w.purchase) for w in expected]


def test_a_values_shape_of_dicts_is_refused():
    shape = Compiled(
        lambda user_id: Purchase.objects.filter(user_id=user_id).values("id"), user_id=-1
    )
    with pytest.raises(ValueError, match="values_list"):
        shape.rows(user_id=1)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan")
def test_the_owned_count_is_answered_by_the_index_alone(buyer_with_history):
    sql, params = selectors.OWNED_COUNT.statement(user_id=buyer_with_history.id)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Only Scan using one_paid_purchase_per_user_and_vod" in plan, plan
