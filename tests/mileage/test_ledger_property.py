"""Property: over any sequence of buys, free buys and cancels, the balance equals the
sum of the ledger and matches a simple model of the rules."""

import itertools

import pytest
from django.conf import settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from mileage.exceptions import InsufficientMileage
from mileage.selectors import mileage_balance
from purchase import services
from purchase.exceptions import AlreadyOwned, NotCancellable
from tests.conftest import assert_books_balance, make_user, make_vod

FILMS = 4
_names = itertools.count()

operations = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), st.integers(0, FILMS - 1)),
        st.tuples(st.just("free"), st.integers(0, FILMS - 1)),
        st.tuples(st.just("cancel"), st.integers(0, 30)),
    ),
    max_size=25,
)


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_balance_always_equals_the_ledger_and_the_rules(ops, django_capture_on_commit_callbacks):
    earn, cost = settings.MILEAGE_EARN_PER_PURCHASE, settings.MILEAGE_FREE_VOD_COST
    user = make_user(f"prop{next(_names)}")
    films = [make_vod() for _ in range(FILMS)]
    purchases: list[tuple[int, int, str]] = []  # (purchase id, film index, method)
    owned: dict[int, int] = {}  # film index -> purchase id
    expected = 0

    for op, arg in ops:
        with django_capture_on_commit_callbacks(execute=True):
            if op in ("buy", "free"):
                method = "card" if op == "buy" else "mileage"
                try:
                    result = services.purchase_create(
                        user_id=user.id, vod_id=films[arg].id, payment_method=method
                    )
                except AlreadyOwned:
                    assert arg in owned
                    continue
                except InsufficientMileage:
                    assert method == "mileage" and expected < cost and arg not in owned
                    continue
                assert arg not in owned
                assert method == "card" or expected >= cost
                owned[arg] = result.purchase.id
                purchases.append((result.purchase.id, arg, method))
                expected += earn if method == "card" else -cost
            elif purchases:
                purchase_id, film, method = purchases[arg % len(purchases)]
                try:
                    services.purchase_cancel(user_id=user.id, purchase_id=purchase_id)
                except NotCancellable:
                    assert owned.get(film) != purchase_id
                    continue
                assert owned.pop(film) == purchase_id
                expected += -earn if method == "card" else cost
        assert mileage_balance(user_id=user.id) == expected
    assert_books_balance()
