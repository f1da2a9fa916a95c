"""Schemathesis, in-process over WSGI, against our own OpenAPI schema, with every one of
its checks (no 5xx, every status, content type, header and body as documented, bad
data refused, good data accepted, auth enforced, undeclared methods 405...), as three
identities: anonymous, a customer and staff (who may add films and cancel anyone's
purchase). Bounded: a few examples per operation and identity.

Good data may still be refused by the store's rules, which no schema can express (a
taken username, too few points...): `schemathesis.toml` names, per operation, the
statuses that may answer well-formed input, and why. `make security` reads the same
file."""

import json
import tomllib
from pathlib import Path

import pytest
import schemathesis
from django.contrib.auth.models import Permission
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient
from schemathesis.config import SchemathesisConfig

from tests.conftest import make_user, make_vod

PASSWORD = "s3cret-pass-123"  # tests.conftest.make_user's
SETTINGS = Path(__file__).resolve().parent.parent / "schemathesis.toml"


def _config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            **tomllib.loads(SETTINGS.read_text()),  # what counts as a refusal, per operation
            "cache": {"enabled": False},  # no replays of old failures, nothing written here
            "base-url": "http://localhost",
            "generation": {"max-examples": 25},
        }
    )


_document = json.loads(
    OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True))
)
application = WSGIHandler()  # (its middleware is read now)
schema = schemathesis.openapi.from_dict(_document, config=_config())
schema.app = application  # requests go to the app in-process, never over a network


@pytest.fixture
def in_process(identity):
    """The app's requests made in this test's transaction, with the settings of
    store's settings."""
    # Like Django's test client: keep the test's connection (and its transaction) open
    # across the in-process requests instead of closing it after each one.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    # Sign-ups per address and failed log-ins are limited (429; their own tests say
    # how): here the limits would only turn every later example into a 429.
    limits = {"SIGNUP_RATE": "1000/min", "AXES_FAILURE_LIMIT": 1000}
    with override_settings(**limits):
        yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _token(username: str) -> str:
    """An API token, obtained as a client does."""
    response = APIClient().post(
        "/api/auth/token/", {"username": username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


@pytest.fixture(params=["anonymous", "customer", "staff"])
def identity(request, db) -> dict[str, str]:
    """The headers of one identity. There is a film, which the customer has bought;
    staff may add films and cancel anyone's purchase."""
    film = make_vod(title="Fuzzable")
    make_user("customer")
    staff = make_user("staff", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_vod", "change_purchase"])
    )
    if request.param == "anonymous":
        return {}
    headers = {"Authorization": f"Token {_token(request.param)}"}
    if request.param == "customer":
        bought = APIClient(headers=headers).post("/api/purchases/", {"vod": film.id}, format="json")
        assert bought.status_code == 201, bought.content
    return headers


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_errors_and_keeps_its_schema(case, identity, in_process):
    case.call_and_validate(headers=identity)
