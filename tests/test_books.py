"""The drills' set-up and books (`scripts.seed`, `scripts.books`) are functions the tests
see: a store made through the apps' services balances, and each way of spoiling it is
reported by the check that names it, and by no other."""

import io
import json
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from mileage.models import MileageAccount, MileageEntry
from payment.models import Payment
from purchase.models import Purchase
from purchase.services import purchase_cancel, purchase_create
from scripts import books, in_store, seed
from tests.conftest import make_user, make_vod
from vodstore.events import handler_name, handlers_for, run_worker_pass
from vodstore.models import OutboxEvent
from vodstore.vocabulary import PaymentMethod

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(committed):
    """A buyer with four purchases made as any buyer makes them: two by card (one of them
    cancelled), one of a free film, one paid with points."""
    buyer = make_user()
    films = [make_vod(price=5000) for _ in range(6)] + [make_vod(price=0)]
    made = {}
    with committed():
        for film in films[:5]:  # 5000 points: enough for a free film
            made.setdefault("card", purchase_create(user_id=buyer.id, vod_id=film.id).purchase)
    with committed():
        made["zero"] = purchase_create(user_id=buyer.id, vod_id=films[6].id).purchase
        made["mileage"] = purchase_create(
            user_id=buyer.id, vod_id=films[5].id, payment_method=PaymentMethod.MILEAGE
        ).purchase
    with committed():
        made["cancelled"] = purchase_cancel(
            user_id=buyer.id,
            purchase_id=Purchase.objects.exclude(id=made["card"].id)
            .filter(payment_method=PaymentMethod.CARD, amount__gt=0)
            .values_list("id", flat=True)
            .first(),
        )
    run_worker_pass(now=timezone.now() + timedelta(minutes=5))  # the receipts, deferred
    return made


def test_a_store_made_through_the_services_balances(store, gateway):
    assert store["cancelled"].status == Purchase.Status.CANCELLED
    assert books.problems() == []
    assert books.events() == []
    assert books.charges(gateway.ledger()["charges"]) == {
        "orphan_charges": [],
        "double_charges": [],
        "double_refunds": [],
        "paid_without_charge": [],
    }


def test_a_missing_entry_is_lost_points_and_an_unbalanced_account(store):
    MileageEntry.objects.filter(purchase_id=store["card"].id, reason="earned").delete()

    found = books.points()
    assert found["lost"] == [f"purchase {store['card'].id} (card, paid): no earned entry"]
    assert found["doubled"] == []
    assert books.ledgers() == [
        f"account {store['card'].user_id}: balance "
        f"{MileageAccount.objects.get().balance}, ledger "
        f"{MileageAccount.objects.get().balance - settings.MILEAGE_EARN_PER_PURCHASE}"
    ]
    assert books.payments() == []


def test_points_a_purchase_must_not_have_are_doubled(store):
    MileageEntry.objects.create(
        account_id=store["zero"].user_id,
        delta=settings.MILEAGE_EARN_PER_PURCHASE,
        reason="earned",
        purchase_id=store["zero"].id,
        event_id=uuid.uuid4(),
    )
    MileageEntry.objects.filter(purchase_id=store["card"].id).update(delta=2 * 1000 + 1)

    doubled = books.points()["doubled"]
    assert len(doubled) == 2
    assert f"purchase {store['zero'].id} (card, paid): earned" in doubled[0] + doubled[1]
    assert any("earned +2001, expected +1000" in line for line in doubled)
    assert books.points()["lost"] == []


def test_the_rules_come_from_the_settings(store, settings):
    settings.MILEAGE_EARN_PER_PURCHASE = 700
    # every entry of the five card purchases of money (one cancelled: two entries)
    assert len(books.points()["doubled"]) == 6
    assert books.points_wanted({"status": "paid", "payment_method": "card", "amount": 1}) == {
        "earned": 700
    }


def test_payments_unlike_their_purchase(store):
    Payment.objects.filter(purchase_id=store["card"].id).update(status="cancelled")
    Payment.objects.filter(purchase_id=store["cancelled"].id).update(status="approved")
    Payment.objects.filter(purchase_id=store["mileage"].id).delete()

    assert sorted(books.payments()) == sorted(
        [
            f"purchase {store['card'].id} (paid): its payment is cancelled",
            f"purchase {store['cancelled'].id} (cancelled): its payment is still approved",
            f"purchase {store['mileage'].id} (paid): no payment",
        ]
    )
    assert books.points() == {"lost": [], "doubled": []}


def test_an_event_no_handler_ran_for(store):
    event = OutboxEvent.objects.create(
        type="PaymentApproved",
        payload={"purchase_id": 1, "user_id": 1},
        occurred_at=timezone.now(),
        next_attempt_at=timezone.now(),
    )
    handlers = [handler_name(h) for h in handlers_for("PaymentApproved")]
    assert handlers  # mileage earns on it

    assert books.events() == [f"event {event.id} PaymentApproved pending: missing {handlers}"]
    assert books.problems() == []  # the books themselves are not what is wrong


def test_the_processors_ledger_against_the_store(store, gateway):
    charges = gateway.ledger()["charges"]
    kept = next(c for c in charges if c["status"] == "captured" and not c["refunded"])
    charges.append({**kept, "reference": "sim_orphan"})  # money taken for nothing
    kept_twice = next(c for c in charges if c["refunds"] == 1)
    kept_twice["refunds"] = 2

    found = books.charges(charges)
    assert found["orphan_charges"] == ["charge sim_orphan"]
    assert found["double_refunds"] == [f"charge {kept_twice['reference']}"]
    assert found["double_charges"] == []
    assert found["paid_without_charge"] == []

    kept["status"] = "authorized"  # the paid purchase's charge was never captured
    paid = Payment.objects.get(gateway_reference=kept["reference"]).purchase_id
    assert books.charges(charges)["paid_without_charge"] == [
        f"purchase {paid} (charge: authorized, refunded 0)"
    ]


def test_what_buyers_were_told(store):
    card, cancelled = store["card"].id, store["cancelled"].id
    assert books.told(paid=[card, cancelled], cancelled=[cancelled], cancel_sent=[cancelled]) == []
    assert books.told(paid=[card, cancelled, 999_999], cancelled=[card], cancel_sent=[]) == [
        f"201 for purchase {cancelled}, cancelled though nobody asked",
        "201 for purchase 999999, which does not exist",
        f"200 cancel of purchase {card}, which is not cancelled",
    ]


def test_seeded_buyers_shop_with_their_tokens():
    films = [make_vod(price=5000), make_vod(price=0)]
    made = seed.buyers(prefix="drill", count=3, priced=True)

    assert films[0].id in made["films"] and films[1].id not in made["films"]
    assert len(made["tokens"]) == 3
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {made['tokens'][2]}")
    answer = client.post("/api/purchases/", {"vod": films[0].id}, format="json")
    assert answer.status_code == 201
    assert Purchase.objects.get().user.username == "drill2"
    assert not Purchase.objects.get().user.has_usable_password()


def test_seeded_owners_bought_through_the_purchase_service(committed):
    for _ in range(3):
        make_vod(price=4000)
    with committed():
        made = seed.owners(prefix="owner", count=2, films_each=2)

    assert len(made["purchases"]) == 4
    assert Purchase.objects.filter(status="paid").count() == 4
    assert MileageAccount.objects.get(user__username="owner1").balance == 2000
    assert books.problems() == []


def test_the_security_worlds_films_are_registered(committed):
    with committed():
        made = seed.security_world(
            passwords={name: "pw-" + name for name in ("alice", "editor")},
            priced=2,
            expensive=50_000,
        )
    assert len(made["free"]) == 5 and len(made["priced"]) == 2
    registered = OutboxEvent.objects.filter(type="VodRegistered").count()
    assert registered == 5 + 2 + 1
    editor = Purchase._meta.apps.get_model("auth", "User").objects.get(username="editor")
    assert editor.is_staff and editor.has_perm("catalog.add_vod")
    assert not editor.has_perm("catalog.change_vod")


def test_in_store_runs_a_named_task_with_its_arguments(monkeypatch, capsys):
    film = make_vod(price=0)
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"priced": False})))
    assert in_store.main(["seed.film_ids"]) == 0
    assert json.loads(capsys.readouterr().out) == seed.film_ids()
    assert film.id in seed.film_ids() and film.id not in seed.film_ids(priced=True)

    assert in_store.main(["os.system"]) == 2  # only the tasks the modules list
    assert "seed.buyers" in capsys.readouterr().out
    for name, task in in_store.tasks().items():
        assert callable(task), name


def test_the_fault_drills_books_name_each_kind(store, gateway):
    told = {"paid": [store["card"].id], "cancelled": [], "cancel_sent": []}
    balanced = books.faults(ledger=gateway.ledger()["charges"], **told)
    assert all(found == [] for found in balanced["found"].values()), balanced["found"]
    assert balanced["summary"]["purchases"] == {"paid": 6, "cancelled": 1}

    Payment.objects.filter(purchase_id=store["mileage"].id).delete()
    spoiled = books.faults(ledger=gateway.ledger()["charges"], **told)["found"]
    assert spoiled["paid_without_charge"] == [f"purchase {store['mileage'].id} (paid): no payment"]
    assert [kind for kind, found in spoiled.items() if found] == ["paid_without_charge"]


def test_progress_counts_events_and_handler_runs_by_app(store):
    progress = books.progress()
    assert progress["approved"] == 7  # every purchase's payment, the ₩0 one as well
    assert progress["cancelled"] == 1 and progress["purchased"] == 7
    assert progress["pending"] == 0 and progress["retrying"] == 0
    handlers = {t: len(handlers_for(t)) for t in ("PaymentApproved", "PaymentCancelled")}
    assert progress["mileage_done"] + progress["payment_done"] + progress["purchase_done"] == (
        7 * handlers["PaymentApproved"]
        + 1 * handlers["PaymentCancelled"]
        + 7 * len(handlers_for("VodPurchased"))
        + len(handlers_for("VodPurchaseCancelled"))
    )
    assert progress["mileage_done"] == 7 + 1  # mileage hears each payment and the cancel
