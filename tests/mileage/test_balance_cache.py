"""The header's points balance: asked for by the template that shows it, from the
cache, forgotten when a change commits; admin pages never ask."""

import re
import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from mileage.selectors import mileage_balance_cached
from mileage.services import mileage_earn, mileage_spend
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

MILEAGE_TABLES = ("mileage_mileageaccount", "mileage_mileageentry")


def chip(client) -> str | None:
    """The header's balance as the page shows it ("1,000 points"), or None."""
    found = re.search(
        r'class="balance-chip".*?</span>([^<]*?)\s*</a>', client.get("/").content.decode(), re.S
    )
    return found.group(1).strip() if found else None


def mileage_queries(url: str, client) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in ctx.captured_queries if any(t in q["sql"] for t in MILEAGE_TABLES)]


def earn(user, committed) -> None:
    with committed():
        mileage_earn(user_id=user.id, purchase_id=next_id(), event_id=uuid.uuid4())


_ids = iter(range(1, 10**6))


def next_id() -> int:
    return next(_ids)


def test_the_balance_shown_changes_as_soon_as_an_earn_or_a_spend_commits(client, committed):
    user = make_user()
    client.force_login(user)
    assert chip(client) == "0 points"  # now in the cache

    earn(user, committed)
    assert chip(client) == "1,000 points"

    for _ in range(4):
        earn(user, committed)
    assert chip(client) == "5,000 points"

    with committed():
        mileage_spend(user_id=user.id, purchase_id=next_id(), event_id=uuid.uuid4())
    assert chip(client) == "0 points"


def test_a_change_rolled_back_leaves_the_balance_shown_as_it_was(client, committed):
    user = make_user()
    client.force_login(user)
    earn(user, committed)
    assert chip(client) == "1,000 points"

    with pytest.raises(RuntimeError), committed(), transaction.atomic():
        mileage_earn(user_id=user.id, purchase_id=next_id(), event_id=uuid.uuid4())
        raise RuntimeError("the purchase failed after the points")

    assert mileage_balance_cached(user_id=user.id) == 1000
    assert chip(client) == "1,000 points"


def test_pages_ask_the_database_for_the_balance_once_then_the_cache(client, committed):
    user = make_user()
    client.force_login(user)
    earn(user, committed)

    assert len(mileage_queries("/", client)) == 1
    assert mileage_queries("/", client) == []
    assert mileage_queries("/purchases/", client) == []


def test_a_visitor_sees_no_balance_and_runs_no_mileage_query(client):
    assert chip(client) is None
    assert mileage_queries("/", client) == []


@pytest.mark.parametrize("url", ["/admin/", "/admin/catalog/vod/", "/admin/purchase/purchase/"])
def test_admin_pages_run_no_mileage_query(admin_client, url):
    assert mileage_queries(url, admin_client) == []
