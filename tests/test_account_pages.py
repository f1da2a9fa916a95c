"""The storefront's account pages: sign up, log in with "next", the language switcher."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from tests.conftest import make_vod

pytestmark = pytest.mark.django_db

SIGNUP = "/accounts/signup/"
GOOD = {
    "username": "mina",
    "email": "mina@example.com",
    "password1": "a-long-pass-phrase",
    "password2": "a-long-pass-phrase",
}


def test_signup_page_has_a_labelled_form_with_csrf_and_next(client):
    response = client.get(SIGNUP + "?next=/films/7/")

    body = response.content.decode()
    assert response.status_code == 200
    for field in ("username", "password1", "password2"):
        assert f'for="id_{field}"' in body and f'id="id_{field}"' in body
    assert "csrfmiddlewaretoken" in body
    assert 'name="next" value="/films/7/"' in body
    assert f'href="{reverse("login")}?next=/films/7/"' in body


def test_signing_up_logs_in_and_goes_back_to_the_film(client):
    vod = make_vod()
    film = reverse("catalog:detail", args=[vod.id])

    response = client.post(SIGNUP, {**GOOD, "next": film}, follow=True)

    assert response.redirect_chain == [(film, 302)]
    assert response.context["user"].username == "mina"
    assert [str(m) for m in response.context["messages"]] == [
        "Welcome, mina! Your account is ready."
    ]
    assert User.objects.get(username="mina").check_password(GOOD["password1"])


def test_signing_up_without_next_goes_to_the_films(client):
    response = client.post(SIGNUP, GOOD)

    assert response.status_code == 302 and response["Location"] == reverse("catalog:list")


def test_a_next_to_another_site_is_ignored(client):
    response = client.post(SIGNUP, {**GOOD, "next": "https://evil.example.com/"})

    assert response["Location"] == reverse("catalog:list")


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({**GOOD, "password2": "something-else-1"}, "The two password fields didn"),
        ({**GOOD, "password1": "short", "password2": "short"}, "This password is too short."),
        ({**GOOD, "username": "bad name!"}, "Enter a valid username."),
    ],
    ids=["mismatch", "too short", "bad username"],
)
def test_a_bad_signup_shows_why_and_creates_nobody(client, form, error):
    response = client.post(SIGNUP, form)

    assert response.status_code == 200
    assert error in response.content.decode().replace("&#x27;", "'")
    assert not User.objects.filter(username=form["username"]).exists()
    assert "_auth_user_id" not in client.session


def test_a_taken_username_is_refused_whatever_its_case(client, user):
    response = client.post(SIGNUP, {**GOOD, "username": "ALICE"})

    assert response.status_code == 200
    assert "A user with that username already exists." in response.content.decode()
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_a_member_opening_sign_up_is_sent_on(client, user):
    client.force_login(user)

    response = client.get(SIGNUP + "?next=/library/")

    assert response.status_code == 302 and response["Location"] == "/library/"


def test_logging_in_goes_back_to_next(client, user):
    response = client.post(
        reverse("login"), {"username": "alice", "password": "s3cret-pass-123", "next": "/films/3/"}
    )

    assert response.status_code == 302 and response["Location"] == "/films/3/"


def test_a_wrong_password_says_so(client, user):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})

    assert response.status_code == 200
    assert "Please enter a correct username and password." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logging_out_is_a_post_and_ends_the_session(client, user):
    client.force_login(user)

    response = client.post(reverse("logout"))

    assert response.status_code == 302 and response["Location"] == reverse("catalog:list")
    assert "_auth_user_id" not in client.session


def test_the_language_switcher_changes_the_page_language(client):
    page = client.get("/").content.decode()
    assert f'action="{reverse("set_language")}"' in page
    assert 'name="language"' in page and 'for="id_language"' in page

    response = client.post(reverse("set_language"), {"language": "ko", "next": "/"})

    assert response.status_code == 302 and response["Location"] == "/"
    assert '<html lang="ko">' in client.get("/").content.decode()


def test_storefront_signups_are_limited_per_client_address(client, settings):
    settings.SIGNUP_RATE = "2/hour"
    answers = []
    for i in range(3):
        client.logout()
        answers.append(
            client.post(
                "/accounts/signup/",
                {
                    "username": f"newbie{i}",
                    "email": f"newbie{i}@example.com",
                    "password1": "a-long-fresh-passphrase",
                    "password2": "a-long-fresh-passphrase",
                },
            )
        )

    assert [a.status_code for a in answers] == [302, 302, 429]
    assert "Too many sign-ups from here" in answers[2].content.decode()
    assert answers[2]["Retry-After"]
    assert not User.objects.filter(username="newbie2").exists()
