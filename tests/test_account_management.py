"""Accounts beyond sign-up: e-mail addresses (unique whatever their case), the account
page, signing out everywhere, closing an account (anonymized, the books kept), password
change and reset in the store's look, and the messages that say what happened."""

import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.db import IntegrityError, transaction
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from mileage.models import MileageEntry
from payment.models import Payment
from purchase.models import Purchase
from purchase.services import purchase_create
from tests.conftest import make_user, make_vod
from vodstore import account_services
from vodstore.accounts import new_token

pytestmark = pytest.mark.django_db

PASSWORD = "s3cret-pass-123"  # make_user's
SIGNUP = "/accounts/signup/"
FORM = {
    "username": "mina",
    "email": "mina@example.com",
    "password1": "a-long-pass-phrase",
    "password2": "a-long-pass-phrase",
}


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def logged_in_client(username: str, password: str = PASSWORD) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": password})
    assert response.status_code == 302, response.content
    return client


# --- e-mail addresses ----------------------------------------------------------------------


def test_signing_up_stores_the_address_with_its_domain_in_lower_case(client):
    client.post(SIGNUP, {**FORM, "email": " Mina@Example.COM "})

    assert User.objects.get(username="mina").email == "Mina@example.com"


def test_sign_up_asks_for_an_address(client):
    response = client.post(SIGNUP, {**FORM, "email": ""})

    assert response.context["form"].errors["email"] == ["This field is required."]
    assert not User.objects.exists()


def test_an_address_is_taken_whatever_its_case_in_the_storefront_and_the_api(client):
    make_user("alice", email="Mina@example.com")

    page = client.post(SIGNUP, {**FORM, "email": "MINA@EXAMPLE.COM"})
    api = APIClient().post(
        "/api/auth/signup/",
        {"username": "minji", "password": "a-long-pass-phrase", "email": "mina@EXAMPLE.com"},
        format="json",
    )

    assert page.context["form"].errors["email"] == [
        "An account with this e-mail address already exists."
    ]
    assert api.status_code == 400
    assert api.json()["errors"]["email"] == ["An account with this e-mail address already exists."]
    assert User.objects.count() == 1


def test_the_database_refuses_a_second_account_with_an_address_whatever_its_case():
    make_user("alice", email="mina@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="bob", email="MINA@example.com")


def test_accounts_without_an_address_are_many_and_keep_working(client):
    make_user("alice")
    make_user("bob")

    assert User.objects.filter(email="").count() == 2
    assert logged_in_client("alice").get("/accounts/").status_code == 200


def test_the_api_signs_up_with_an_address_or_without_one():
    api = APIClient()
    with_address = api.post(
        "/api/auth/signup/",
        {"username": "mina", "password": "a-long-pass-phrase", "email": "mina@example.com"},
        format="json",
    )
    without = api.post(
        "/api/auth/signup/", {"username": "bob", "password": "a-long-pass-phrase"}, format="json"
    )

    assert with_address.status_code == 201 and with_address.json()["email"] == "mina@example.com"
    assert without.status_code == 201 and without.json()["email"] == ""
    assert User.objects.get(username="mina").email == "mina@example.com"


def test_the_api_still_refuses_fields_it_does_not_take():
    response = APIClient().post(
        "/api/auth/signup/",
        {"username": "mina", "password": "a-long-pass-phrase", "is_staff": True},
        format="json",
    )

    assert response.status_code == 400 and "is_staff" in response.json()["errors"]


# --- the password fields of the sign-up form ------------------------------------------------


def test_a_weak_password_is_reported_under_the_password_not_the_confirmation(client):
    response = client.post(SIGNUP, {**FORM, "password1": "short", "password2": "short"})

    errors = response.context["form"].errors
    assert (
        "This password is too short. It must contain at least 8 characters." in errors["password1"]
    )
    assert "password2" not in errors
    body = response.content.decode()
    assert body.index("This password is too short") < body.index('id="id_password2"')


def test_an_accepted_password_is_kept_when_only_another_field_failed(client):
    make_user("mina")

    response = client.post(SIGNUP, FORM)

    body = response.content.decode()
    assert "A user with that username already exists." in body
    assert body.count('value="a-long-pass-phrase"') == 2


def test_a_weak_password_is_not_sent_back(client):
    response = client.post(SIGNUP, {**FORM, "password1": "short", "password2": "short"})

    assert 'value="short"' not in response.content.decode()


# --- the account page ------------------------------------------------------------------------


def test_the_account_page_is_for_members(client):
    response = client.get("/accounts/")

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_account_page_shows_the_account_and_its_doors():
    make_user("mina", email="mina@example.com")

    response = logged_in_client("mina").get("/accounts/")

    body = response.content.decode()
    assert response.status_code == 200
    assert "mina" in body and 'value="mina@example.com"' in body
    for url in (
        "/accounts/password_change/",
        "/accounts/sign-out-everywhere/",
        "/accounts/delete/",
    ):
        assert url in body
    assert "Django administration" not in body


def test_changing_the_address_and_refusing_a_taken_one():
    make_user("mina", email="mina@example.com")
    make_user("bob", email="bob@example.com")
    client = logged_in_client("mina")

    unconfirmed = client.post("/accounts/", {"email": "mina@new.example", "password": "guess"})
    changed = client.post(
        "/accounts/", {"email": "Mina@New.example", "password": PASSWORD}, follow=True
    )
    taken = client.post("/accounts/", {"email": "BOB@example.com", "password": PASSWORD})
    removed = client.post("/accounts/", {"email": "", "password": PASSWORD}, follow=True)

    assert unconfirmed.status_code == 400
    assert "This is not your password." in unconfirmed.content.decode()
    assert messages_of(changed) == ["Your e-mail address is now Mina@new.example."]
    assert taken.status_code == 400
    assert "An account with this e-mail address already exists." in taken.content.decode()
    assert messages_of(removed) == ["Your e-mail address was removed."]
    assert User.objects.get(username="mina").email == ""


def test_sign_out_everywhere_ends_every_session_and_token():
    mina = make_user("mina")
    bob = make_user("bob")
    phone, laptop, bobs = (
        logged_in_client("mina"),
        logged_in_client("mina"),
        logged_in_client("bob"),
    )
    new_token(mina)
    new_token(mina)
    new_token(bob)

    response = laptop.post("/accounts/sign-out-everywhere/", follow=True)

    assert "Every device and API token of your account is signed out." in messages_of(response)
    assert "You are signed out." in messages_of(response)
    for client in (phone, laptop):
        assert client.get("/accounts/").status_code == 302
    assert bobs.get("/accounts/").status_code == 200
    assert not AuthToken.objects.filter(user=mina).exists()
    assert AuthToken.objects.filter(user=bob).count() == 1


def test_sign_out_everywhere_is_a_post():
    make_user("mina")

    assert logged_in_client("mina").get("/accounts/sign-out-everywhere/").status_code == 405


# --- closing an account ------------------------------------------------------------------------


def test_closing_an_account_keeps_the_books_and_erases_the_person(committed):
    mina = make_user("mina", email="mina@example.com", first_name="Mina", last_name="Kim")
    with committed():
        purchase = purchase_create(user_id=mina.id, vod_id=make_vod(price=4500).id).purchase
    other_browser = logged_in_client("mina")
    new_token(mina)
    entries = MileageEntry.objects.filter(purchase_id=purchase.id).count()
    assert entries == 1

    account_services.user_anonymize(user_id=mina.id)

    closed = User.objects.get(pk=mina.pk)
    assert closed.username == f"deleted-{mina.pk}"
    assert (closed.email, closed.first_name, closed.last_name) == ("", "", "")
    assert not closed.is_active and not closed.has_usable_password()
    assert Purchase.objects.get(pk=purchase.pk).user_id == mina.pk
    assert Payment.objects.filter(purchase_id=purchase.pk).count() == 1
    assert MileageEntry.objects.filter(purchase_id=purchase.id).count() == entries
    assert not AuthToken.objects.filter(user=mina).exists()
    assert other_browser.get("/accounts/").status_code == 302
    for username in ("mina", f"deleted-{mina.pk}"):
        refused = Client().post("/accounts/login/", {"username": username, "password": PASSWORD})
        assert refused.status_code == 200 and "_auth_user_id" not in refused.wsgi_request.session
    token = APIClient().post(
        "/api/auth/token/", {"username": "mina", "password": PASSWORD}, format="json"
    )
    assert token.status_code == 400


def test_the_name_and_address_of_a_closed_account_are_free_again(client):
    mina = make_user("mina", email="mina@example.com")
    account_services.user_anonymize(user_id=mina.pk)

    client.post(SIGNUP, FORM)

    assert User.objects.get(username="mina").pk != mina.pk


def test_the_delete_page_says_what_happens_and_wants_the_password():
    make_user("mina")
    client = logged_in_client("mina")

    page = client.get("/accounts/delete/")
    wrong = client.post("/accounts/delete/", {"password": "not-my-password"})

    assert "purchases, payments and points history stay" in page.content.decode()
    assert wrong.status_code == 400 and "This is not your password." in wrong.content.decode()
    assert User.objects.get(username="mina").is_active


def test_deleting_with_the_password_closes_the_account_and_signs_out():
    mina = make_user("mina")
    client = logged_in_client("mina")

    response = client.post("/accounts/delete/", {"password": PASSWORD}, follow=True)

    assert "Your account is closed. Thank you for watching." in messages_of(response)
    assert not response.context["user"].is_authenticated
    assert User.objects.get(pk=mina.pk).username == f"deleted-{mina.pk}"


# --- log-out, password change and reset ------------------------------------------------------


def test_logging_out_says_so():
    make_user("mina")
    client = logged_in_client("mina")

    response = client.post("/accounts/logout/", follow=True)

    assert messages_of(response) == ["You are signed out."]


def test_the_log_in_page_offers_a_reset(client):
    body = client.get("/accounts/login/").content.decode()

    assert 'href="/accounts/password_reset/"' in body and "Forgot your password?" in body


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/password_reset/",
        "/accounts/password_reset/done/",
        "/accounts/reset/MQ/bad-token/",
        "/accounts/reset/done/",
    ],
)
def test_the_reset_pages_are_the_stores(client, path):
    response = client.get(path, follow=True)

    body = response.content.decode()
    assert response.status_code == 200
    assert "Django administration" not in body and 'class="site-header' in body


def test_the_password_change_pages_are_the_stores():
    make_user("mina")
    client = logged_in_client("mina")

    for path in ("/accounts/password_change/", "/accounts/password_change/done/"):
        body = client.get(path).content.decode()
        assert "Django administration" not in body and 'class="site-header' in body


def test_changing_the_password_says_so_keeps_this_session_and_ends_the_tokens():
    mina = make_user("mina")
    client, other = logged_in_client("mina"), logged_in_client("mina")
    new_token(mina)

    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "another-long-phrase",
            "new_password2": "another-long-phrase",
        },
        follow=True,
    )

    assert response.redirect_chain[-1][0] == "/accounts/"
    assert messages_of(response) == ["Your password is changed. Your other devices are signed out."]
    assert client.get("/accounts/").status_code == 200
    assert other.get("/accounts/").status_code == 302
    assert not AuthToken.objects.filter(user=mina).exists()


def reset_path(message) -> str:
    return re.search(r"https?://[^/]+(/accounts/reset/\S+/\S+/)", message.body).group(1)


def test_a_reset_goes_only_to_the_address_and_says_the_same_for_any_address(client):
    make_user("mina", email="mina@example.com")

    known = client.post("/accounts/password_reset/", {"email": "MINA@example.com"}, follow=True)
    unknown = client.post("/accounts/password_reset/", {"email": "who@example.com"}, follow=True)

    def card(response) -> str:  # the page without its per-request CSRF token
        return re.search(
            r'<section class="auth-card">.*?</section>', response.content.decode(), re.S
        )[0]

    assert known.redirect_chain == unknown.redirect_chain
    assert card(known) == card(unknown)
    assert "If an account has this address" in card(known)
    (message,) = mail.outbox
    assert message.to == ["mina@example.com"]
    assert "/accounts/reset/" in message.body and "mina" in message.body


def test_no_reset_for_a_closed_account(client):
    mina = make_user("mina", email="mina@example.com")
    account_services.user_anonymize(user_id=mina.pk)

    client.post("/accounts/password_reset/", {"email": "mina@example.com"})

    assert mail.outbox == []


@pytest.fixture(params=["database", "cache"])
def axes_handler(request, settings):
    """django-axes counting in the database (no Redis) and in the cache (Redis)."""
    from axes.handlers.proxy import AxesProxyHandler

    settings.AXES_HANDLER = f"axes.handlers.{request.param}.Axes{request.param.title()}Handler"
    AxesProxyHandler.get_implementation(force=True)
    yield
    AxesProxyHandler.implementation = None  # the configured one again, at next use


def test_resetting_lifts_a_lock_out_of_the_account(client, settings, axes_handler):
    settings.AXES_FAILURE_LIMIT = 3
    make_user("mina", email="mina@example.com")
    for _ in range(3):
        Client(REMOTE_ADDR="10.0.0.9").post(
            "/accounts/login/", {"username": "mina", "password": "guess"}
        )
    locked = client.post("/accounts/login/", {"username": "mina", "password": PASSWORD})
    assert locked.status_code == 429

    client.post("/accounts/password_reset/", {"email": "mina@example.com"})
    form = client.get(reset_path(mail.outbox[0]), follow=True)
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-fresh-pass-phrase", "new_password2": "a-fresh-pass-phrase"},
        follow=True,
    )

    assert messages_of(done) == ["Your password is set. You can log in with it now."]
    again = client.post("/accounts/login/", {"username": "mina", "password": "a-fresh-pass-phrase"})
    assert again.status_code == 302


def test_reset_requests_are_limited(client, settings):
    settings.PASSWORD_RESET_RATE = "2/hour"
    make_user("mina", email="mina@example.com")

    answers = [
        client.post("/accounts/password_reset/", {"email": "mina@example.com"}) for _ in range(3)
    ]

    assert [a.status_code for a in answers] == [302, 302, 429]
    assert "Too many reset requests" in answers[2].content.decode()
    assert answers[2]["Retry-After"]
    assert len(mail.outbox) == 2
