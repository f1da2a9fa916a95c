"""Schemathesis, in-process over WSGI, against our own OpenAPI schema: as an ordinary
signed-in user, no generated request gets a 5xx or a response that breaks the schema."""

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis import checks as st_checks
from schemathesis.specs.openapi import checks as oas_checks

from tests.conftest import make_user, make_vod
from vodstore.wsgi import application

_document = json.loads(
    OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True))
)
schema = schemathesis.openapi.from_dict(_document)
schema.app = application  # requests go to the app in-process, never over a network


@pytest.fixture
def token(db) -> str:
    # Like Django's test client: keep the test's connection (and its transaction) open
    # across the in-process requests instead of closing it after each one.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    make_vod(title="Fuzzable")
    yield Token.objects.create(user=make_user()).key
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_errors_and_matches_its_schema(case, token):
    case.call_and_validate(
        headers={"Authorization": f"Token {token}"},
        checks=[st_checks.not_a_server_error, oas_checks.response_schema_conformance],
        excluded_checks=[oas_checks.status_code_conformance],
    )
