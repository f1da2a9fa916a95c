"""The storefront's buying pages: the film page's actions, buy (card and points), watch,
my library, my purchases and cancel, with every refusal shown as a message."""

import re
import uuid
from html import unescape
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from mileage.models import MileageEntry
from payment.models import Payment
from purchase import idempotency
from purchase import views as purchase_views
from purchase.models import IdempotencyKey, Purchase
from purchase.services import purchase_cancel, purchase_create
from tests.conftest import assert_books_balance, make_user, make_vod

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def film_url(vod) -> str:
    return reverse("catalog:detail", args=[vod.id])


def buy_url(vod) -> str:
    return reverse("purchase:buy", args=[vod.id])


def text(response) -> str:
    """The page as a reader sees it: tags out, entities decoded, spaces collapsed."""
    without_tags = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+", " ", unescape(without_tags))


def header_balance(response) -> str:
    """The balance shown in the header, e.g. "1,000 points"."""
    chip = re.search(r'class="balance-chip".*?</a>', response.content.decode(), re.S)
    assert chip, "no balance in the header"
    return re.search(r"-?[\d,]+ points?", unescape(chip.group(0))).group(0)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def submit(client, committed, url, data=None):
    """POST a form as a browser does, then follow its redirect once the request's
    transaction has committed (and its events have been delivered)."""
    with committed():
        posted = client.post(url, data or {})
    if posted.status_code != 302:
        return posted
    page = client.get(posted["Location"])
    page.redirect_chain = [(posted["Location"], 302)]
    return page


def post_buy(client, committed, vod, method="card", key=None):
    """Submit a film page's buy form and follow the redirect back to the page."""
    data = {"payment_method": method, "idempotency_key": key or str(uuid.uuid4())}
    return submit(client, committed, buy_url(vod), data)


def buy_form(body: str, method: str) -> str:
    """The HTML of the film page's buy form for a payment method."""
    match = re.search(
        rf'<form[^>]*>(?:(?!</form>).)*value="{method}"(?:(?!</form>).)*</form>', body, re.S
    )
    assert match, f"no {method} buy form"
    return match.group(0)


def give_points(committed, user, count: int) -> None:
    """Earn points the real way: `count` card purchases (1000 points each)."""
    for _ in range(count):
        with committed():
            purchase_create(user_id=user.id, vod_id=make_vod().id)


# ---- The film page ---------------------------------------------------------------------


def return_url(vod) -> str:
    """Where log-in or sign-up sends a visitor who pressed Buy: back to the film page,
    Buy offered again."""
    return f"{film_url(vod)}?buy=1"


def test_visitor_sees_buy_leading_to_log_in_and_back(client, vod):
    response = client.get(film_url(vod))

    body = response.content.decode()
    to_login = f"{reverse('login')}?next={quote(return_url(vod), safe='/')}"
    to_signup = f"{reverse('signup')}?next={quote(return_url(vod), safe='/')}"
    assert response.status_code == 200
    assert re.search(rf'<a class="button button--buy" href="{re.escape(to_login)}">', body)
    assert "Buy for ₩4,500" in text(response)
    assert f'href="{to_signup}"' in body
    assert re.search(r'<button type="button" class="button button--points" disabled', body)
    assert "Points can be used once you are logged in." in text(response)
    # nothing to post yet: no form, so no CSRF token, and the page may be shared
    assert "<form" not in body.split('id="buy"')[1].split("</section>")[0]
    assert "csrfmiddlewaretoken" not in body and not response.cookies


def test_anonymous_buy_goes_to_login_and_back_to_the_film_with_buy_offered(
    client, user, vod, gateway, committed
):
    # a buy form from before the session ended
    response = client.post(buy_url(vod), {"payment_method": "card", "idempotency_key": "x"})

    login_url = f"{reverse('login')}?next={quote(return_url(vod), safe='/')}"
    assert response.status_code == 302 and response["Location"] == login_url
    assert not Purchase.objects.exists() and gateway.attempts == 0

    login_page = client.get(login_url)
    assert f'name="next" value="{return_url(vod)}"' in login_page.content.decode()
    logged_in = client.post(
        reverse("login"),
        {"username": "alice", "password": "s3cret-pass-123", "next": return_url(vod)},
    )
    assert logged_in.status_code == 302 and logged_in["Location"] == return_url(vod)

    back = client.get(logged_in["Location"])
    body = back.content.decode()
    assert "You are logged in: you can buy “The Harbor” now." in text(back)
    assert "buy-panel--offered" in body and 'id="buy"' in body
    assert "autofocus" in buy_form(body, "card")

    bought = post_buy(client, committed, vod)
    assert messages_of(bought) == ["You bought “The Harbor” for ₩4,500. Enjoy the film!"]
    assert "buy-panel--offered" not in bought.content.decode()


def test_signing_up_from_buy_comes_back_to_the_film_with_buy_offered(client, vod):
    signed_up = client.post(
        reverse("signup"),
        {
            "username": "newcomer",
            "email": "newcomer@example.com",
            "password1": "s3cret-pass-123",
            "password2": "s3cret-pass-123",
            "next": return_url(vod),
        },
    )

    assert signed_up.status_code == 302 and signed_up["Location"] == return_url(vod)
    back = client.get(signed_up["Location"])
    assert "You are logged in: you can buy “The Harbor” now." in text(back)


def test_the_buy_marker_offers_nothing_to_visitors_or_owners(client, user, vod, committed):
    visitor = client.get(f"{film_url(vod)}?buy=1")
    assert "buy-panel--offered" not in visitor.content.decode()
    assert "you can buy" not in text(visitor)

    client.force_login(user)
    with committed():
        purchase_create(user_id=user.id, vod_id=vod.id)
    owner = client.get(f"{film_url(vod)}?buy=1")
    assert "In your library" in text(owner)
    assert "you can buy" not in text(owner)


def render_buy_intent(rf, next_url: str, **request_params) -> str:
    from django.template import Context, Template

    request = rf.get("/accounts/login/", request_params)
    template = Template("{% load buying %}{% buy_intent %}")
    return " ".join(template.render(Context({"request": request, "next": next_url})).split())


def test_log_in_and_sign_up_pages_can_say_why(rf, vod):
    said = render_buy_intent(rf, return_url(vod))

    assert "Log in or sign up to buy “The Harbor”." in unescape(said)
    # the next address as the page's own query has it (a POST with errors keeps it too)
    assert "The Harbor" in render_buy_intent(rf, "", next=return_url(vod))


@pytest.mark.parametrize(
    "next_url",
    [
        "",
        "/films/{id}/",  # no Buy pressed
        "/library/?buy=1",  # not a film page
        "/films/999999/?buy=1",  # no such film
        "//evil.example/films/{id}/?buy=1",
        "https://evil.example/films/{id}/?buy=1",
        "films/{id}/?buy=1",
    ],
)
def test_the_reason_is_only_given_for_a_film_on_this_site(rf, vod, next_url):
    assert render_buy_intent(rf, next_url.format(id=vod.id)) == ""


def test_a_withdrawn_film_gives_no_reason(rf, vod):
    vod.is_active = False
    vod.save()

    assert render_buy_intent(rf, return_url(vod)) == ""


def test_member_with_too_few_points_sees_buy_enabled_and_points_disabled_with_why(signed_in, vod):
    response = signed_in.get(film_url(vod))

    body = response.content.decode()
    card, points = buy_form(body, "card"), buy_form(body, "mileage")
    assert "disabled" not in card and "csrfmiddlewaretoken" in card
    assert "disabled" in points and "Use 5,000 points" in points
    assert "You have 0 points; a free film needs 5,000 points." in text(response)
    keys = re.findall(r'name="idempotency_key" value="([0-9a-f-]{36})"', body)
    assert len(keys) == 2 and keys[0] != keys[1]
    # a new rendering of the page is a new purchase attempt: new keys
    again = re.findall(
        r'name="idempotency_key" value="([^"]+)"', signed_in.get(film_url(vod)).content.decode()
    )
    assert not set(keys) & set(again)


def test_member_with_enough_points_can_use_them(signed_in, user, vod, committed):
    give_points(committed, user, 5)

    response = signed_in.get(film_url(vod))

    assert "disabled" not in buy_form(response.content.decode(), "mileage")
    assert "You have 5,000 points." in text(response)


def test_a_negative_balance_is_explained_on_the_film_page(signed_in, user, vod, committed):
    give_points(committed, user, 5)
    with committed():
        purchase_create(user_id=user.id, vod_id=make_vod().id, payment_method="mileage")
    card = Purchase.objects.filter(user=user, payment_method="card").first()
    with committed():
        purchase_cancel(user_id=user.id, purchase_id=card.id)

    response = signed_in.get(film_url(vod))

    page = text(response)
    assert "You have -1,000 points; a free film needs 5,000 points." in page
    assert "a cancelled card purchase took back points that had already been spent" in page
    assert f'href="{reverse("mileage:summary")}#negative-balance"' in response.content.decode()


def test_a_free_film_offers_no_points(signed_in, committed, user):
    give_points(committed, user, 5)
    free = make_vod(price=0)

    response = signed_in.get(film_url(free))

    assert "Get it free" in text(response)
    assert 'value="mileage"' not in response.content.decode()


def test_owner_sees_watch_instead_of_buy(signed_in, user, vod, committed):
    with committed():
        purchase_create(user_id=user.id, vod_id=vod.id)

    response = signed_in.get(film_url(vod))

    body = response.content.decode()
    assert "In your library" in text(response)
    assert f'href="{reverse("purchase:watch", args=[vod.id])}"' in body
    assert 'name="idempotency_key"' not in body


def test_film_page_stays_up_when_purchases_cannot_be_read(signed_in, vod, monkeypatch):
    def locked(**_):
        raise OperationalError("database table is locked: purchase_purchase")

    # the owned films behind their cache: the database read the buy box starts from
    monkeypatch.setattr("purchase.selectors.owned_vod_ids", locked)

    response = signed_in.get(film_url(vod))

    assert response.status_code == 200
    assert "The Harbor" in text(response)
    assert "Buying is unavailable right now." in text(response)
    assert 'name="idempotency_key"' not in response.content.decode()


def test_film_page_stays_up_when_points_cannot_be_read(signed_in, vod, monkeypatch):
    def locked(**_):
        raise OperationalError("database table is locked: mileage_mileageaccount")

    monkeypatch.setattr("mileage.selectors.mileage_balance", locked)

    response = signed_in.get(film_url(vod))

    body = response.content.decode()
    assert response.status_code == 200
    assert "balance-chip" not in body
    assert "disabled" not in buy_form(body, "card")
    assert "disabled" in buy_form(body, "mileage")
    assert "Your points balance cannot be read right now" in text(response)


# ---- Buying ---------------------------------------------------------------------------


def test_buy_by_card(signed_in, user, vod, committed, gateway):
    response = post_buy(signed_in, committed, vod)

    assert response.redirect_chain == [(film_url(vod), 302)]
    assert messages_of(response) == ["You bought “The Harbor” for ₩4,500. Enjoy the film!"]
    purchase = Purchase.objects.get(user=user)
    assert (purchase.vod_id, purchase.status, purchase.payment_method) == (vod.id, "paid", "card")
    assert gateway.charges == [("fake_1", 4500)]
    page = text(response)
    assert "In your library" in page
    assert header_balance(response) == "1,000 points"  # delivered after commit
    assert_books_balance()


def test_buy_with_points(signed_in, user, vod, committed, gateway):
    give_points(committed, user, 5)
    charges = len(gateway.charges)

    response = post_buy(signed_in, committed, vod, method="mileage")

    assert messages_of(response) == ["You got “The Harbor” for 5,000 points. Enjoy the film!"]
    purchase = Purchase.objects.get(user=user, vod_id=vod.id)
    assert (purchase.payment_method, purchase.amount) == ("mileage", 5000)
    assert len(gateway.charges) == charges  # no card charged
    assert header_balance(response) == "0 points"
    assert_books_balance()


def test_a_double_click_buys_once_and_both_answers_say_bought(
    signed_in, user, vod, committed, gateway
):
    key = str(uuid.uuid4())

    first = post_buy(signed_in, committed, vod, key=key)
    second = post_buy(signed_in, committed, vod, key=key)

    bought = ["You bought “The Harbor” for ₩4,500. Enjoy the film!"]
    assert messages_of(first) == bought and messages_of(second) == bought
    assert Purchase.objects.filter(user=user).count() == 1
    assert len(gateway.charges) == 1 and Payment.objects.count() == 1
    assert MileageEntry.objects.filter(account_id=user.id).count() == 1


def test_a_replayed_refusal_shows_its_message_again_without_charging(
    signed_in, user, vod, committed, gateway
):
    gateway.decline = True
    key = str(uuid.uuid4())
    declined = "Your card payment was declined. Nothing was charged."

    assert messages_of(post_buy(signed_in, committed, vod, key=key)) == [declined]
    gateway.decline = False
    assert messages_of(post_buy(signed_in, committed, vod, key=key)) == [declined]

    assert gateway.attempts == 1
    assert not Purchase.objects.exists()


def test_a_second_click_while_the_first_is_paying_waits_then_says_so(
    signed_in, user, vod, committed, gateway, monkeypatch
):
    monkeypatch.setattr(purchase_views, "IN_PROGRESS_WAIT_SECONDS", 0)
    key = str(uuid.uuid4())
    # the first click's claim: no purchase and no answer yet
    IdempotencyKey.objects.create(
        user=user,
        key=key,
        fingerprint=idempotency.fingerprint({"vod": vod.id, "payment_method": "card"}),
    )

    response = post_buy(signed_in, committed, vod, key=key)

    assert messages_of(response) == [
        "Your purchase is still being processed. Please check again in a moment."
    ]
    assert gateway.attempts == 0 and not Purchase.objects.exists()


def test_buying_an_owned_film_is_refused(signed_in, user, vod, committed, gateway):
    post_buy(signed_in, committed, vod)

    response = post_buy(signed_in, committed, vod)  # e.g. a second tab's stale form

    assert response.redirect_chain == [(film_url(vod), 302)]
    assert messages_of(response) == ["You already own this film."]
    assert Purchase.objects.filter(user=user).count() == 1
    assert len(gateway.charges) == 1


def test_too_few_points_is_refused(signed_in, user, vod, committed, gateway):
    give_points(committed, user, 2)

    response = post_buy(signed_in, committed, vod, method="mileage")

    assert messages_of(response) == [
        "Not enough points: a free film needs 5,000 points and you have 2,000 points."
    ]
    assert not Purchase.objects.filter(vod_id=vod.id).exists()
    assert not Payment.objects.filter(method="mileage").exists()
    assert header_balance(response) == "2,000 points"  # untouched
    assert_books_balance()


def test_a_declined_card_is_refused_and_leaves_nothing(signed_in, vod, committed, gateway):
    gateway.decline = True

    response = post_buy(signed_in, committed, vod)

    assert response.redirect_chain == [(film_url(vod), 302)]
    assert messages_of(response) == ["Your card payment was declined. Nothing was charged."]
    assert not Purchase.objects.exists() and not Payment.objects.exists()
    assert not MileageEntry.objects.exists()
    assert "Buy for ₩4,500" in text(response)


def test_a_failing_gateway_says_busy_and_the_same_form_can_retry(
    signed_in, user, vod, committed, gateway
):
    gateway.fail = True
    key = str(uuid.uuid4())

    response = post_buy(signed_in, committed, vod, key=key)

    assert messages_of(response) == ["Payment is busy, please try again in 1 second."]
    assert not Purchase.objects.exists() and not Payment.objects.exists()

    gateway.fail = False
    retried = post_buy(signed_in, committed, vod, key=key)
    assert messages_of(retried) == ["You bought “The Harbor” for ₩4,500. Enjoy the film!"]


def test_an_open_breaker_says_busy_with_the_seconds_to_wait(signed_in, committed, gateway):
    gateway.fail = True
    for _ in range(settings.PAYMENT_GUARD["MINIMUM_CALLS"]):
        post_buy(signed_in, committed, make_vod())
    attempts = gateway.attempts
    vod = make_vod()

    response = post_buy(signed_in, committed, vod)

    seconds = round(settings.PAYMENT_GUARD["OPEN_SECONDS"])
    assert messages_of(response) == [f"Payment is busy, please try again in {seconds} seconds."]
    assert gateway.attempts == attempts  # refused without calling the gateway
    assert not Purchase.objects.exists()


def test_too_many_purchases_are_refused_with_the_wait(
    signed_in, user, user_client, committed, gateway, monkeypatch, settings
):
    settings.PURCHASE_RATE = "2/min"
    first, second, third = make_vod(), make_vod(), make_vod()
    # the API and the storefront share one budget
    with committed():
        api = user_client.post("/api/purchases/", {"vod": first.id}, format="json")
    assert api.status_code == 201
    assert messages_of(post_buy(signed_in, committed, second))[0].startswith("You bought")

    response = post_buy(signed_in, committed, third)

    [message] = messages_of(response)
    match = re.fullmatch(r"Too many purchases, please try again in (\d+) seconds?\.", message)
    assert match and 0 < int(match.group(1)) <= 60
    assert not Purchase.objects.filter(vod_id=third.id).exists()
    assert len(gateway.charges) == 2


def test_a_film_no_longer_on_sale_is_refused_on_the_catalog(signed_in, committed, gateway):
    withdrawn = make_vod(title="Withdrawn", is_active=False)

    response = post_buy(signed_in, committed, withdrawn)

    assert response.redirect_chain == [(reverse("catalog:list"), 302)]
    assert messages_of(response) == ["This film is not available for sale."]
    assert gateway.attempts == 0 and not Purchase.objects.exists()


@pytest.mark.parametrize(
    "form",
    [
        {"payment_method": "card"},
        {"payment_method": "card", "idempotency_key": "not-a-uuid"},
        {"payment_method": "bitcoin", "idempotency_key": str(uuid.uuid4())},
    ],
    ids=["no key", "bad key", "unknown method"],
)
def test_a_tampered_form_buys_nothing(signed_in, vod, gateway, form):
    response = signed_in.post(buy_url(vod), form, follow=True)

    assert messages_of(response) == ["This form has expired. Please try again."]
    assert gateway.attempts == 0 and not Purchase.objects.exists()


def test_opening_the_buy_address_goes_to_the_film_page(signed_in, vod):
    response = signed_in.get(buy_url(vod))

    assert response.status_code == 302 and response["Location"] == film_url(vod)
    assert not Purchase.objects.exists()


def test_buying_needs_the_csrf_token(user, vod, gateway):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)

    response = strict.post(buy_url(vod), {"idempotency_key": str(uuid.uuid4())})

    assert response.status_code == 403
    assert gateway.attempts == 0 and not Purchase.objects.exists()


# ---- Watch ----------------------------------------------------------------------------


def test_owner_watches_the_film(signed_in, user, vod, committed):
    with committed():
        purchase_create(user_id=user.id, vod_id=vod.id)

    response = signed_in.get(reverse("purchase:watch", args=[vod.id]))

    assert response.status_code == 200
    page = text(response)
    assert "The Harbor" in page and "Video player: The Harbor" in response.content.decode()
    assert "100 minutes" in page and "A film." in page and "₩4,500" in page


def test_non_owner_is_sent_to_the_film_page_to_buy(signed_in, vod):
    response = signed_in.get(reverse("purchase:watch", args=[vod.id]), follow=True)

    assert response.redirect_chain == [(film_url(vod), 302)]
    assert messages_of(response) == ["Buy this film to watch it."]
    assert "Video player" not in response.content.decode()


def test_cancelled_film_can_no_longer_be_watched(signed_in, user, vod, committed):
    with committed():
        purchase = purchase_create(user_id=user.id, vod_id=vod.id).purchase
        purchase_cancel(user_id=user.id, purchase_id=purchase.id)

    response = signed_in.get(reverse("purchase:watch", args=[vod.id]))

    assert response.status_code == 302 and response["Location"] == film_url(vod)


def test_visitor_must_log_in_to_watch(client, vod):
    watch = reverse("purchase:watch", args=[vod.id])

    response = client.get(watch)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={watch}"


# ---- My library -------------------------------------------------------------------------


def test_library_lists_owned_films_with_watch_links(signed_in, user, committed, other_user):
    kept, cancelled, theirs = (
        make_vod(title="Kept"),
        make_vod(title="Gone"),
        make_vod(title="Theirs"),
    )
    with committed():
        purchase_create(user_id=user.id, vod_id=kept.id)
        gone = purchase_create(user_id=user.id, vod_id=cancelled.id).purchase
        purchase_cancel(user_id=user.id, purchase_id=gone.id)
        purchase_create(user_id=other_user.id, vod_id=theirs.id)

    response = signed_in.get(reverse("purchase:library"))

    page = text(response)
    assert "1 film you own" in page and "Kept" in page
    assert "Gone" not in page and "Theirs" not in page
    assert f'href="{reverse("purchase:watch", args=[kept.id])}"' in response.content.decode()


def test_library_keeps_a_film_retired_from_sale_with_its_watch_link(signed_in, user, committed):
    film = make_vod(title="Retired Later")
    with committed():
        purchase_create(user_id=user.id, vod_id=film.id)
    film.is_active = False
    film.save()

    response = signed_in.get(reverse("purchase:library"))

    assert "Retired Later" in text(response)
    assert "No longer available to watch." not in text(response)
    assert reverse("purchase:watch", args=[film.id]) in response.content.decode()


def test_library_names_a_film_gone_from_the_catalog_by_its_bought_title(signed_in, user, committed):
    # The store retires films; one deleted anyway (from the shell) leaves the purchase
    # with the title it was bought under.
    film = make_vod(title="Deleted Later")
    with committed():
        purchase_create(user_id=user.id, vod_id=film.id)
    watch_url = reverse("purchase:watch", args=[film.id])
    film.delete()

    response = signed_in.get(reverse("purchase:library"))

    assert "Deleted Later" in text(response)
    assert "No longer available to watch." in text(response)
    assert watch_url not in response.content.decode()


def test_empty_library_invites_to_browse(signed_in):
    response = signed_in.get(reverse("purchase:library"))

    assert "You do not own any films yet." in text(response)


def test_visitor_must_log_in_for_the_library(client):
    response = client.get(reverse("purchase:library"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# ---- My purchases and cancel -------------------------------------------------------------


@pytest.fixture
def history(user, committed):
    """A paid card purchase, a paid points purchase and a cancelled card purchase."""
    give_points(committed, user, 5)
    with committed():
        card = purchase_create(user_id=user.id, vod_id=make_vod(title="By Card", price=12000).id)
    with committed():
        points = purchase_create(
            user_id=user.id, vod_id=make_vod(title="By Points").id, payment_method="mileage"
        )
    with committed():
        cancelled = purchase_create(user_id=user.id, vod_id=make_vod(title="Changed Mind").id)
    with committed():
        purchase_cancel(user_id=user.id, purchase_id=cancelled.purchase.id)
    return card.purchase, points.purchase, cancelled.purchase


def test_purchases_show_status_method_amount_and_cancel_for_paid_ones(signed_in, history):
    card, points, cancelled = history

    response = signed_in.get(reverse("purchase:list"))

    body, page = response.content.decode(), text(response)
    assert re.search(r"By Card .*? Card ₩12,000 Paid", page)
    assert re.search(r"By Points .*? Points 5,000 points Paid", page)
    assert re.search(r"Changed Mind .*? Card ₩5,000 Cancelled", page)
    assert reverse("purchase:cancel", args=[card.id]) in body
    assert reverse("purchase:cancel", args=[points.id]) in body
    assert reverse("purchase:cancel", args=[cancelled.id]) not in body


def test_purchases_never_show_someone_elses(signed_in, committed, other_user):
    with committed():
        purchase_create(user_id=other_user.id, vod_id=make_vod(title="Bob's Film").id)

    response = signed_in.get(reverse("purchase:list"))

    assert "Bob's Film" not in text(response)
    assert "You have not bought anything yet." in text(response)


def test_purchase_detail_shows_its_payment(signed_in, history):
    card, _, cancelled = history

    paid = text(signed_in.get(reverse("purchase:detail", args=[card.id])))
    gone = text(signed_in.get(reverse("purchase:detail", args=[cancelled.id])))

    assert "By Card" in paid and "Approved" in paid and "₩12,000" in paid
    assert "Changed Mind" in gone and "Cancelled and refunded" in gone


def test_the_purchase_page_is_a_printable_receipt(signed_in, user, history, gateway):
    card, _, _ = history
    payment = Payment.objects.get(purchase_id=card.id)
    assert payment.gateway_reference  # the fake gateway's

    response = signed_in.get(reverse("purchase:detail", args=[card.id]))

    body, page = response.content.decode(), text(response)
    local = timezone.localtime(card.created_at)  # the store's time zone (Asia/Seoul)
    assert re.search(
        rf"Film By Card Purchased {re.escape(date_format(local, 'DATETIME_FORMAT'))} \(KST\)",
        page,
    )
    assert f"Receipt number #{card.id}" in page and "Bought by alice" in page
    assert f"Paid with Card Payment reference {payment.gateway_reference}" in page
    assert "Amount ₩12,000" in page and "Points earned 1,000 points" in page
    assert "Payment Approved" in page
    assert "Refund terms You can cancel for a refund until" in page
    assert "data-print" in body and "js/receipt.js" in body
    assert "Receipt: By Card" in page  # the title


def test_a_points_purchase_receipt_shows_points_and_no_card(signed_in, history):
    _, points, _ = history

    page = text(signed_in.get(reverse("purchase:detail", args=[points.id])))

    assert "Paid with Points from your balance" in page
    assert "Amount 5,000 points" in page
    assert "Payment reference" not in page and "Points earned" not in page


def test_a_cancelled_purchase_receipt_says_what_was_refunded(signed_in, history):
    _, _, cancelled = history
    cancelled.refresh_from_db()

    page = text(signed_in.get(reverse("purchase:detail", args=[cancelled.id])))

    assert "Cancelled and refunded" in page
    assert "This purchase was cancelled: ₩5,000 was refunded to your card." in page
    assert "1,000 points, taken back on cancelling" in page
    when = date_format(timezone.localtime(cancelled.cancelled_at), "DATETIME_FORMAT")
    assert f"Cancelled {when} (KST)" in page


def test_cancel_asks_for_confirmation_first(signed_in, history, gateway):
    card, _, _ = history
    refunds = list(gateway.refunds)

    response = signed_in.get(reverse("purchase:cancel", args=[card.id]))

    page = text(response)
    assert "Cancel “By Card”?" in page
    assert "₩12,000 is refunded to your card" in page
    assert "the 1,000 points this purchase earned are taken back" in page
    form = re.search(r'<form method="post"[^>]*>.*?</form>', response.content.decode(), re.S)
    assert form and "csrfmiddlewaretoken" in form.group(0) and "<button" in form.group(0)
    assert Purchase.objects.get(pk=card.id).status == "paid" and gateway.refunds == refunds


def test_cancelling_a_card_purchase_refunds_and_takes_the_points_back(
    signed_in, user, history, committed, gateway
):
    card, _, _ = history
    before = MileageEntry.objects.filter(account_id=user.id).count()

    response = submit(signed_in, committed, reverse("purchase:cancel", args=[card.id]))

    assert response.redirect_chain == [(reverse("purchase:list"), 302)]
    assert messages_of(response) == [
        "Cancelled “By Card”: ₩12,000 will be refunded to your card and the 1,000 points it "
        "earned taken back."
    ]
    assert Purchase.objects.get(pk=card.id).status == "cancelled"
    assert Payment.objects.get(purchase_id=card.id).status == "cancelled"
    assert len(gateway.refunds) == 2  # this one and the fixture's cancelled purchase
    entry = MileageEntry.objects.filter(account_id=user.id).order_by("-id").first()
    assert MileageEntry.objects.filter(account_id=user.id).count() == before + 1
    assert (entry.reason, entry.delta, entry.purchase_id) == ("clawed_back", -1000, card.id)
    # 5 x 1000 + 1000 earned, 5000 spent, the other cancelled purchase's 1000 and this one's
    assert header_balance(response) == "0 points"
    assert_books_balance()


def test_cancelling_a_points_purchase_returns_the_points(signed_in, user, history, committed):
    _, points, _ = history

    response = submit(signed_in, committed, reverse("purchase:cancel", args=[points.id]))

    assert messages_of(response) == ["Cancelled “By Points”: your 5,000 points will be returned."]
    assert MileageEntry.objects.get(purchase_id=points.id, reason="refunded").delta == 5000
    assert_books_balance()


def test_cancelling_a_cancelled_purchase_is_refused(signed_in, history, committed, gateway):
    _, _, cancelled = history
    refunds = list(gateway.refunds)
    refused = "This purchase cannot be cancelled: only a paid purchase can be."

    posted = submit(signed_in, committed, reverse("purchase:cancel", args=[cancelled.id]))
    opened = signed_in.get(reverse("purchase:cancel", args=[cancelled.id]), follow=True)

    for response in (posted, opened):
        assert response.redirect_chain == [(reverse("purchase:detail", args=[cancelled.id]), 302)]
        assert messages_of(response) == [refused]
    assert gateway.refunds == refunds
    assert_books_balance()


def test_someone_elses_purchase_is_not_found(signed_in, committed, other_user, gateway):
    with committed():
        theirs = purchase_create(user_id=other_user.id, vod_id=make_vod().id).purchase

    for name in ("purchase:detail", "purchase:cancel"):
        assert signed_in.get(reverse(name, args=[theirs.id])).status_code == 404
    with committed():
        assert signed_in.post(reverse("purchase:cancel", args=[theirs.id])).status_code == 404

    assert Purchase.objects.get(pk=theirs.id).status == "paid" and gateway.refunds == []


def test_visitor_must_log_in_to_cancel(client, committed):
    owner = make_user()
    with committed():
        purchase = purchase_create(user_id=owner.id, vod_id=make_vod().id).purchase

    response = client.post(reverse("purchase:cancel", args=[purchase.id]))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert Purchase.objects.get(pk=purchase.id).status == "paid"


# ---- The header -----------------------------------------------------------------------------


def test_header_links_my_pages_and_shows_the_balance(signed_in, user, committed):
    give_points(committed, user, 3)

    response = signed_in.get(reverse("catalog:list"))

    body = response.content.decode()
    for name in ("purchase:library", "purchase:list", "mileage:summary"):
        assert f'href="{reverse(name)}"' in body
    assert header_balance(response) == "3,000 points"


def test_visitors_see_no_member_links(client):
    body = client.get(reverse("catalog:list")).content.decode()

    assert reverse("purchase:library") not in body
    assert "balance-chip" not in body
    assert f'href="{reverse("signup")}?next=/"' in body
