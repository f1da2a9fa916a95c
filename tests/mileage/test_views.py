"""The storefront's mileage page and the balance in every page's header."""

import re
import uuid
from html import unescape

import pytest
from django.db import OperationalError
from django.urls import reverse

from mileage.models import MileageEntry
from purchase.models import Purchase
from purchase.services import purchase_cancel, purchase_create
from tests.conftest import assert_books_balance, make_vod

pytestmark = pytest.mark.django_db

MILEAGE_URL = "/mileage/"


def text(response) -> str:
    without_tags = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+", " ", unescape(without_tags))


def ledger_rows(response) -> list[str]:
    body = response.content.decode()
    tbody = re.search(r"<tbody>(.*?)</tbody>", body, re.S)
    rows = re.findall(r"<tr>(.*?)</tr>", tbody.group(1), re.S) if tbody else []
    return [re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", row))).strip() for row in rows]


def balance_figure(response) -> str:
    figure = re.search(r'data-testid="mileage-balance">([^<]*)<', response.content.decode())
    return unescape(figure.group(1))


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def test_the_page_lives_at_mileage():
    assert reverse("mileage:summary") == MILEAGE_URL


def test_a_new_member_has_no_points_yet(signed_in):
    response = signed_in.get(MILEAGE_URL)

    assert response.status_code == 200
    assert balance_figure(response) == "0 points"
    assert "No points yet. Buy a film by card to earn your first points." in text(response)
    assert "Every film you buy by card earns 1,000 points." in text(response)
    assert "5,000 points buy any film" in text(response)


def test_ledger_rows_say_what_happened_to_which_film_in_plain_words(signed_in, user, committed):
    purchases = []
    for title in ("Alive!", "ToBusan", "Oldboy", "Mother", "Poetry"):
        with committed():
            vod = make_vod(title=title)
            purchases.append(purchase_create(user_id=user.id, vod_id=vod.id).purchase)
    with committed():
        free = purchase_create(
            user_id=user.id, vod_id=make_vod(title="The Host").id, payment_method="mileage"
        )
    with committed():
        purchase_cancel(user_id=user.id, purchase_id=free.purchase.id)
    with committed():
        purchase_cancel(user_id=user.id, purchase_id=purchases[0].id)

    response = signed_in.get(MILEAGE_URL)

    assert balance_figure(response) == "4,000 points"
    rows = ledger_rows(response)
    assert len(rows) == 8
    # newest first: the points taken back, the points returned, the spend, five earnings
    assert re.fullmatch(r".* Taken back: Alive! was cancelled -1,000 points", rows[0])
    assert re.fullmatch(r".* Returned: The Host was cancelled \+5,000 points", rows[1])
    assert re.fullmatch(r".* Spent on The Host -5,000 points", rows[2])
    assert re.fullmatch(r".* Earned for buying Poetry \+1,000 points", rows[3])
    assert all(" Earned for buying " in row and row.endswith("+1,000 points") for row in rows[3:])
    page = text(response)
    assert "Purchase #" not in page and "Clawed back" not in page
    body = response.content.decode()
    for purchase in [*purchases, free.purchase]:
        assert f'href="{reverse("purchase:detail", args=[purchase.id])}"' in body


def test_a_film_title_is_escaped_in_the_ledger(signed_in, user, committed):
    with committed():
        purchase_create(user_id=user.id, vod_id=make_vod(title="<b>Bold</b> & Co").id)

    body = signed_in.get(MILEAGE_URL).content.decode()

    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in body and "<b>Bold</b>" not in body


def test_the_ledger_still_shows_when_purchases_cannot_be_read(
    signed_in, user, committed, monkeypatch
):
    with committed():
        bought = purchase_create(user_id=user.id, vod_id=make_vod(title="Alive!").id).purchase

    def locked(*args, **kwargs):
        raise OperationalError("database table is locked: purchase_purchase")

    monkeypatch.setattr("purchase.templatetags.ledger.Purchase.objects.filter", locked)
    response = signed_in.get(MILEAGE_URL)

    assert response.status_code == 200
    (row,) = ledger_rows(response)
    assert row.endswith(f" Earned for buying purchase #{bought.id} +1,000 points")


def test_the_ledger_page_runs_the_same_queries_whatever_its_length(
    signed_in, user, committed, django_assert_num_queries
):
    """The session with its user (one query); the header's balance; the balance, count
    and page of the ledger; the page's film titles (one query for all its rows)."""
    with committed():
        purchase_create(user_id=user.id, vod_id=make_vod().id)
    with django_assert_num_queries(6):
        signed_in.get(MILEAGE_URL)
    for _ in range(25):  # more than a page
        with committed():
            purchase_create(user_id=user.id, vod_id=make_vod().id)
    with django_assert_num_queries(6):
        response = signed_in.get(MILEAGE_URL)
    assert len(ledger_rows(response)) == 20


def test_a_negative_balance_is_shown_as_such(signed_in, user, committed):
    for _ in range(5):
        with committed():
            purchase_create(user_id=user.id, vod_id=make_vod().id)
    with committed():
        purchase_create(user_id=user.id, vod_id=make_vod().id, payment_method="mileage")
    card = Purchase.objects.filter(user=user, payment_method="card").first()
    with committed():
        purchase_cancel(user_id=user.id, purchase_id=card.id)

    response = signed_in.get(MILEAGE_URL)

    assert balance_figure(response) == "-1,000 points"
    assert "is-negative" in response.content.decode()
    page = text(response)
    assert "Why is the balance below zero?" in page
    assert "When such a purchase is cancelled, its points are taken back" in page
    assert "You owe nothing and no money is charged." in page
    assert "a free film needs 5,000 points, that is 6,000 points more than you have now" in page


def test_a_balance_of_zero_or_more_needs_no_explanation(signed_in, user, committed):
    with committed():
        purchase_create(user_id=user.id, vod_id=make_vod().id)

    response = signed_in.get(MILEAGE_URL)

    assert "negative-balance" not in response.content.decode()
    assert "Use 5,000 points" in text(response)


def test_someone_elses_points_are_not_shown(signed_in, other_user, committed):
    with committed():
        purchase_create(user_id=other_user.id, vod_id=make_vod().id)

    response = signed_in.get(MILEAGE_URL)

    assert balance_figure(response) == "0 points"
    assert ledger_rows(response) == []


def test_visitor_must_log_in(client):
    response = client.get(MILEAGE_URL)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={MILEAGE_URL}"


def test_the_header_shows_the_balance_on_every_page(signed_in, user, committed):
    with committed():
        purchase_create(user_id=user.id, vod_id=make_vod().id)

    for url in ("/", reverse("purchase:list"), MILEAGE_URL):
        chip = re.search(r'class="balance-chip".*?</a>', signed_in.get(url).content.decode(), re.S)
        assert chip and "1,000 points" in chip.group(0), url


def test_the_header_hides_the_balance_when_it_cannot_be_read(signed_in, monkeypatch):
    def locked(**_):
        raise OperationalError("database table is locked: mileage_mileageaccount")

    monkeypatch.setattr("mileage.selectors.mileage_balance", locked)

    response = signed_in.get("/")

    assert response.status_code == 200
    assert "balance-chip" not in response.content.decode()
    assert "My mileage" in text(response)  # the rest of the header is there


def test_a_film_of_no_price_earns_no_points_and_its_cancel_takes_none(user_client, user, committed):
    """Points reward money paid: a ₩0 film bought "by card" earns nothing (five of them
    once bought a ₩10,000,000 film), and cancelling it takes nothing back."""
    free = make_vod(price=0)
    with committed():
        response = user_client.post("/api/purchases/", {"vod": free.id}, format="json")
    assert response.status_code == 201
    assert user_client.get("/api/mileage/").json()["balance"] == 0
    assert not MileageEntry.objects.filter(purchase_id=response.json()["id"]).exists()

    with committed():
        user_client.post(f"/api/purchases/{response.json()['id']}/cancel/")

    assert user_client.get("/api/mileage/").json()["balance"] == 0
    assert not MileageEntry.objects.exists()
    assert_books_balance()


def test_the_five_free_films_attack_earns_nothing_through_the_api(user_client, committed):
    """The attack an outside review found: five ₩0 films "by card" earned 5,000 points,
    which bought a ₩10,000,000 film; cancelling the free ones then left -5,000."""
    free_films = [make_vod(price=0) for _ in range(5)]
    expensive = make_vod(price=10_000_000)
    bought = []
    for film in free_films:
        with committed():
            response = user_client.post("/api/purchases/", {"vod": film.id}, format="json")
        assert response.status_code == 201
        bought.append(response.json()["id"])

    with committed():
        attack = user_client.post(
            "/api/purchases/",
            {"vod": expensive.id, "payment_method": "mileage"},
            format="json",
        )
    for purchase_id in bought:
        with committed():
            user_client.post(f"/api/purchases/{purchase_id}/cancel/")

    assert attack.status_code == 402 and attack.json()["code"] == "insufficient_mileage"
    assert not Purchase.objects.filter(vod_id=expensive.id).exists()
    assert user_client.get("/api/mileage/").json()["balance"] == 0
    assert not MileageEntry.objects.exists()


def test_the_five_free_films_attack_earns_nothing_in_the_storefront(client, user, committed):
    client.force_login(user)
    free_films = [make_vod(price=0) for _ in range(5)]
    expensive = make_vod(price=10_000_000)
    free_page = client.get(reverse("catalog:detail", args=[free_films[0].id])).content.decode()
    assert "earns" not in free_page, "a free film promises no points"
    assert "earns" in client.get(reverse("catalog:detail", args=[expensive.id])).content.decode()
    for film in free_films:
        with committed():
            client.post(
                reverse("purchase:buy", args=[film.id]),
                {"payment_method": "card", "idempotency_key": str(uuid.uuid4())},
            )
    assert Purchase.objects.filter(status="paid").count() == 5

    with committed():
        client.post(
            reverse("purchase:buy", args=[expensive.id]),
            {"payment_method": "mileage", "idempotency_key": str(uuid.uuid4())},
        )

    assert not Purchase.objects.filter(vod_id=expensive.id).exists()
    assert not MileageEntry.objects.exists()
