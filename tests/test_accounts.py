"""Sign up and token endpoints, and that token and session authentication both work."""

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.conftest import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"


def test_signup_returns_a_working_token(api_client):
    response = api_client.post(
        "/api/auth/signup/", {"username": "minji", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    user = User.objects.get(username="minji")
    assert body == {"id": user.id, "username": "minji", "token": Token.objects.get(user=user).key}
    assert user.check_password(PASSWORD)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert client.get("/api/mileage/").status_code == 200


def test_signup_refuses_a_taken_username_case_insensitively(api_client):
    make_user("Minji")
    response = api_client.post(
        "/api/auth/signup/", {"username": "minji", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert "username" in response.json()["errors"]
    assert User.objects.filter(username__iexact="minji").count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "minji", "password": "123"}, "password"),
        ({"username": "minji", "password": "password"}, "password"),
        ({"username": "minji", "password": "minji1234"}, "password"),
        ({"username": "bad name!", "password": PASSWORD}, "username"),
        ({"username": "x" * 151, "password": PASSWORD}, "username"),
        ({"password": PASSWORD}, "username"),
        ({"username": "minji"}, "password"),
        ({"username": ["minji"], "password": PASSWORD}, "username"),
    ],
)
def test_signup_validation(api_client, payload, field):
    response = api_client.post("/api/auth/signup/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
    assert not User.objects.filter(username="minji").exists()


def test_token_for_right_password_only(api_client):
    user = make_user("jun")
    user.set_password(PASSWORD)
    user.save()
    ok = api_client.post("/api/auth/token/", {"username": "jun", "password": PASSWORD})
    assert ok.status_code == 200
    assert ok.json() == {"token": Token.objects.get(user=user).key}
    again = api_client.post("/api/auth/token/", {"username": "jun", "password": PASSWORD})
    assert again.json() == ok.json()
    wrong = api_client.post("/api/auth/token/", {"username": "jun", "password": "nope"})
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "invalid"


def test_bad_token_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = api_client.get("/api/purchases/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_session_authentication_enforces_csrf(vod):
    user = make_user("sora")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/api/mileage/").status_code == 200
    response = client.post("/api/purchases/", {"vod": vod.id}, format="json")
    assert response.status_code == 403  # no CSRF token
    assert response.json()["code"] == "permission_denied"
