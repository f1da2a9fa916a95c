"""Sign up and token endpoints, and that token and session authentication both work."""

from datetime import timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.utils import timezone
from knox.models import AuthToken
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
    assert body["id"] == user.id and body["username"] == "minji" and body["expiry"]
    token = AuthToken.objects.get(user=user)
    assert token.digest != body["token"], "only the token's hash is kept"
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
    assert set(ok.json()) == {"token", "expiry"}
    again = api_client.post("/api/auth/token/", {"username": "jun", "password": PASSWORD})
    assert again.json()["token"] != ok.json()["token"], "a token per device, never handed back"
    assert AuthToken.objects.filter(user=user).count() == 2
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


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def get_token(username: str, password: str = PASSWORD) -> str:
    response = APIClient().post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def test_a_token_expires(api_client, settings):
    make_user("jun").set_password(PASSWORD)
    User.objects.filter(username="jun").update(password=make_password(PASSWORD))
    key = get_token("jun")
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))

    response = token_client(key).get("/api/purchases/")

    assert response.status_code == 401
    assert not AuthToken.objects.exists(), "an expired token is deleted"


def test_logout_ends_this_device_and_logout_all_every_device():
    User.objects.create_user("jun", password=PASSWORD)
    phone, laptop, tablet = get_token("jun"), get_token("jun"), get_token("jun")

    assert token_client(phone).post("/api/auth/logout/").status_code == 204
    assert token_client(phone).get("/api/purchases/").status_code == 401
    assert token_client(laptop).get("/api/purchases/").status_code == 200

    assert token_client(laptop).post("/api/auth/logout-all/").status_code == 204
    assert token_client(laptop).get("/api/purchases/").status_code == 401
    assert token_client(tablet).get("/api/purchases/").status_code == 401


def test_a_password_change_ends_every_token():
    user = User.objects.create_user("jun", password=PASSWORD)
    key = get_token("jun")
    other = User.objects.create_user("mina", password=PASSWORD)
    other_key = get_token("mina")

    user.set_password("another-long-passphrase-77")
    user.save()

    assert token_client(key).get("/api/purchases/").status_code == 401
    assert token_client(other_key).get("/api/purchases/").status_code == 200
    assert other.username == "mina"


def test_repeated_wrong_passwords_lock_the_token_endpoint_before_hashing(settings, monkeypatch):
    User.objects.create_user("jun", password=PASSWORD)
    checks = []
    real_check = User.check_password
    monkeypatch.setattr(
        User, "check_password", lambda u, raw: checks.append(raw) or real_check(u, raw)
    )
    limit = settings.AXES_FAILURE_LIMIT

    answers = [
        APIClient().post("/api/auth/token/", {"username": "jun", "password": f"guess{i}"})
        for i in range(limit + 5)
    ]

    assert [a.status_code for a in answers[: limit - 1]] == [400] * (limit - 1)
    locked = answers[-1]
    assert locked.status_code == 429 and locked.json()["code"] == "locked_out"
    assert int(locked["Retry-After"]) == int(settings.AXES_COOLOFF_TIME.total_seconds())
    assert len(checks) <= limit, "a locked-out attempt hashes no password"
    # even the right password waits for the cool-off
    right = APIClient().post("/api/auth/token/", {"username": "jun", "password": PASSWORD})
    assert right.status_code == 429 and not AuthToken.objects.exists()


def test_the_storefront_login_is_locked_out_with_a_message(client, settings):
    User.objects.create_user("jun", password=PASSWORD)
    for i in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "jun", "password": f"guess{i}"})

    response = client.post("/accounts/login/", {"username": "jun", "password": PASSWORD})

    assert response.status_code == 429 and response["Retry-After"]
    assert "Too many failed log-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_admin_login_is_locked_out_too(client, settings):
    User.objects.create_superuser("boss", password=PASSWORD)
    for i in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": "boss", "password": f"guess{i}"})

    response = client.post("/admin/login/", {"username": "boss", "password": PASSWORD})

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_signups_are_limited_per_client_address(settings):
    settings.SIGNUP_RATE = "2/hour"
    answers = [
        APIClient().post(
            "/api/auth/signup/", {"username": f"new{i}", "password": PASSWORD}, format="json"
        )
        for i in range(3)
    ]

    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json()["code"] == "throttled" and answers[2]["Retry-After"]
    assert not User.objects.filter(username="new2").exists()


@pytest.mark.parametrize("password", ["Welcome1!", "!!password2024", "          ", "\t\n  \t"])
def test_signup_refuses_blank_and_decorated_common_passwords(api_client, password):
    response = api_client.post(
        "/api/auth/signup/", {"username": "minji", "password": password}, format="json"
    )

    assert response.status_code == 400 and "password" in response.json()["errors"]
    assert not User.objects.filter(username="minji").exists()


def test_security_headers_on_the_storefront_admin_and_api(client):
    for path in ("/", "/admin/login/", "/api/vods/"):
        response = client.get(path)
        policy = response["Content-Security-Policy"]
        assert (
            "script-src 'self'" in policy
            and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        ), path
        assert "frame-ancestors 'none'" in policy
        assert response["Referrer-Policy"] == "same-origin"
        assert "camera=()" in response["Permissions-Policy"]


def test_the_api_docs_load_their_script_from_this_site(client):
    page = client.get("/api/docs/").content.decode()
    assert "<script>" not in page, "no inline script under the CSP"
    assert client.get("/api/docs/?script=").status_code == 200
