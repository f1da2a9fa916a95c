"""The Idempotency-Key header of POST /api/purchases/: replay, reuse, expiry, recovery."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from payment.models import Payment
from purchase import idempotency
from purchase.models import IdempotencyKey, Purchase
from tests.conftest import assert_books_balance, make_vod

pytestmark = pytest.mark.django_db


def buy(client, committed, body, key):
    with committed():
        return client.post("/api/purchases/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def replayed(response) -> bool:
    return response.get("Idempotent-Replayed") == "true"


def age(user, key, **delta) -> None:
    IdempotencyKey.objects.filter(user=user, key=key).update(
        created_at=timezone.now() - timedelta(**delta)
    )


def test_same_key_and_body_replays_the_first_response(user_client, user, vod, committed, gateway):
    first = buy(user_client, committed, {"vod": vod.id}, "k-1")
    assert first.status_code == 201 and not replayed(first)

    for body in ({"vod": vod.id}, {"vod": vod.id, "payment_method": "card"}):
        again = buy(user_client, committed, body, "k-1")
        assert again.status_code == 201 and replayed(again)
        assert again.json() == first.json()

    assert len(gateway.charges) == 1 and gateway.voids == []
    assert Purchase.objects.count() == 1 and Payment.objects.count() == 1
    claim = IdempotencyKey.objects.get(user=user, key="k-1")
    assert claim.purchase_id == first.json()["id"] and claim.response_status == 201
    assert_books_balance()


@pytest.mark.parametrize(
    "other_body",
    [{"vod": "other"}, {"vod": "same", "payment_method": "mileage"}],
    ids=["other film", "other method"],
)
def test_same_key_with_another_body_is_422(user_client, vod, committed, gateway, other_body):
    assert buy(user_client, committed, {"vod": vod.id}, "k-2").status_code == 201
    other = make_vod()
    body = {**other_body, "vod": other.id if other_body["vod"] == "other" else vod.id}

    response = buy(user_client, committed, body, "k-2")

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert len(gateway.charges) == 1
    assert Purchase.objects.count() == 1


def test_the_same_key_from_another_user_is_theirs(user_client, vod, other_user, committed, gateway):
    mine = buy(user_client, committed, {"vod": vod.id}, "shared-key")
    other_client = APIClient()
    other_client.force_authenticate(other_user)

    theirs = buy(other_client, committed, {"vod": vod.id}, "shared-key")

    assert theirs.status_code == 201 and not replayed(theirs)
    assert theirs.json()["id"] != mine.json()["id"]
    assert len(gateway.charges) == 2
    assert Purchase.objects.filter(user=other_user).count() == 1
    assert IdempotencyKey.objects.filter(key="shared-key").count() == 2


def test_a_refusal_is_replayed_even_after_the_gateway_recovers(
    user_client, vod, committed, gateway
):
    gateway.decline = True
    declined = buy(user_client, committed, {"vod": vod.id}, "k-3")
    assert declined.status_code == 402 and declined.json()["code"] == "payment_declined"
    gateway.decline = False

    again = buy(user_client, committed, {"vod": vod.id}, "k-3")

    assert again.status_code == 402 and replayed(again)
    assert again.json() == declined.json()
    assert gateway.charges == [] and not Purchase.objects.exists()
    # A new key is a new attempt.
    assert buy(user_client, committed, {"vod": vod.id}, "k-4").status_code == 201


def test_an_already_owned_refusal_is_replayed(user_client, vod, committed, gateway):
    assert buy(user_client, committed, {"vod": vod.id}, "k-5").status_code == 201
    owned = buy(user_client, committed, {"vod": vod.id}, "k-6")
    assert owned.status_code == 409 and owned.json()["code"] == "already_owned"

    again = buy(user_client, committed, {"vod": vod.id}, "k-6")

    assert again.status_code == 409 and replayed(again) and again.json() == owned.json()
    assert len(gateway.charges) == 1


def test_a_gateway_failure_is_not_stored_so_a_retry_buys(
    user_client, user, vod, committed, gateway
):
    gateway.fail = True
    failed = buy(user_client, committed, {"vod": vod.id}, "k-7")
    assert failed.status_code == 503 and failed.json()["code"] == "payment_unavailable"
    assert not IdempotencyKey.objects.filter(user=user, key="k-7").exists()
    gateway.fail = False

    retry = buy(user_client, committed, {"vod": vod.id}, "k-7")

    assert retry.status_code == 201 and not replayed(retry)
    assert len(gateway.charges) == 1 and Purchase.objects.count() == 1
    assert_books_balance()


def test_keys_older_than_24_hours_are_purged_and_reusable(
    user_client, user, committed, gateway, capsys
):
    first, second, third = make_vod(), make_vod(), make_vod()
    assert buy(user_client, committed, {"vod": first.id}, "old").status_code == 201
    assert buy(user_client, committed, {"vod": second.id}, "recent").status_code == 201
    age(user, "old", hours=25)
    age(user, "recent", hours=23)

    call_command("purge_idempotency_keys")

    assert "deleted 1 " in capsys.readouterr().out
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["recent"]
    # The purged key starts afresh: another body is a new purchase, not a 422.
    fresh = buy(user_client, committed, {"vod": third.id}, "old")
    assert fresh.status_code == 201 and not replayed(fresh)
    assert fresh.json()["vod"] == third.id
    # The recent key still replays.
    assert replayed(buy(user_client, committed, {"vod": second.id}, "recent"))
    assert len(gateway.charges) == 3


def test_an_expired_key_not_yet_purged_is_also_used_afresh(user_client, user, committed, gateway):
    first, other = make_vod(), make_vod()
    assert buy(user_client, committed, {"vod": first.id}, "stale").status_code == 201
    age(user, "stale", hours=25)

    response = buy(user_client, committed, {"vod": other.id}, "stale")

    assert response.status_code == 201 and not replayed(response)
    assert response.json()["vod"] == other.id
    assert IdempotencyKey.objects.get(user=user, key="stale").purchase_id == response.json()["id"]


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "clé-ünïcode", "tab\there", "키"],
    ids=["empty", "256 chars", "non-ascii", "control char", "hangul"],
)
def test_invalid_keys_are_400(user_client, vod, committed, gateway, key):
    response = buy(user_client, committed, {"vod": vod.id}, key)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert gateway.charges == [] and not IdempotencyKey.objects.exists()


def test_a_255_character_key_is_fine(user_client, vod, committed):
    key = "k" * 255
    assert buy(user_client, committed, {"vod": vod.id}, key).status_code == 201
    assert replayed(buy(user_client, committed, {"vod": vod.id}, key))


def test_a_purchase_whose_response_was_never_stored_is_replayed(
    user_client, user, vod, committed, gateway
):
    first = buy(user_client, committed, {"vod": vod.id}, "crash-1")
    # The process died after the purchase committed, before the response was stored.
    IdempotencyKey.objects.filter(user=user, key="crash-1").update(
        response_status=None, response_body=None
    )

    again = buy(user_client, committed, {"vod": vod.id}, "crash-1")

    assert again.status_code == 201 and replayed(again)
    assert again.json() == first.json()
    assert len(gateway.charges) == 1 and Purchase.objects.count() == 1


def orphan_claim(user, vod, key, **ago) -> None:
    """A claim left by a request whose process died before it bought anything."""
    IdempotencyKey.objects.create(
        user=user,
        key=key,
        fingerprint=idempotency.fingerprint({"vod": vod.id, "payment_method": "card"}),
    )
    age(user, key, **ago)


def test_a_claim_still_running_is_409_in_progress(user_client, user, vod, committed, gateway):
    orphan_claim(user, vod, "busy", seconds=3)

    response = buy(user_client, committed, {"vod": vod.id}, "busy")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_in_progress"
    assert response["Retry-After"] == "1"
    assert gateway.charges == [] and not Purchase.objects.exists()


def test_an_abandoned_claim_is_taken_over_by_a_retry_within_seconds(
    user_client, user, vod, committed, gateway
):
    orphan_claim(user, vod, "abandoned", seconds=15)

    response = buy(user_client, committed, {"vod": vod.id}, "abandoned")

    assert response.status_code == 201 and not replayed(response)
    assert len(gateway.charges) == 1 and Purchase.objects.count() == 1
    claim = IdempotencyKey.objects.get(user=user, key="abandoned")
    assert claim.purchase_id == response.json()["id"] and claim.response_status == 201
    assert replayed(buy(user_client, committed, {"vod": vod.id}, "abandoned"))
    assert_books_balance()
