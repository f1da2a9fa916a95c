"""A password reset through a real SMTP server: the message leaves Django's SMTP
backend, crosses a socket to aiosmtpd, and its link sets a new password."""

from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User

from tests.conftest import make_user
from tests.smtp import reset_link, smtp_server

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-pass-phrase"


def test_a_reset_mail_through_a_real_smtp_server_sets_a_new_password(client, settings):
    settings.DEFAULT_FROM_EMAIL = "VOD Store <no-reply@vod.example.com>"
    make_user("mina", email="Mina@Example.com")

    with smtp_server() as mailbox:
        asked = client.post("/accounts/password_reset/", {"email": "mina@example.com"})
        message = mailbox.next_message()

    assert asked.status_code == 302 and asked["Location"] == "/accounts/password_reset/done/"
    assert message["To"] == "Mina@example.com"  # create_user lower-cased the domain
    assert message["From"] == "VOD Store <no-reply@vod.example.com>"
    assert "new password" in message["Subject"]
    link = urlsplit(reset_link(message))

    form_page = client.get(link.path, follow=True)  # Django hides the token behind a redirect
    assert form_page.status_code == 200 and form_page.context["validlink"]
    set_page = form_page.redirect_chain[-1][0]
    done = client.post(
        set_page, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True
    )

    assert done.redirect_chain[-1][0] == "/accounts/reset/done/"
    assert "Your password is set." in done.content.decode()
    logged_in = client.post("/accounts/login/", {"username": "mina", "password": NEW_PASSWORD})
    assert logged_in.status_code == 302 and client.session["_auth_user_id"]
    assert User.objects.get(username="mina").check_password(NEW_PASSWORD)
    # the link works once
    assert not client.get(link.path, follow=True).context["validlink"]


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client):
    make_user("mina", email="mina@example.com")

    with smtp_server() as mailbox:
        unknown = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})
        known = client.post("/accounts/password_reset/", {"email": "mina@example.com"})
        mailbox.next_message()  # only the known address's

        assert mailbox.empty()
    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
