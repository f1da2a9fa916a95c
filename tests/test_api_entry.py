"""The API as a newcomer meets it: its root, the browsable API's log-in and log-out,
JSON errors at every address under /api/, readable page names, realistic examples."""

import copy
import json
import re
import uuid
from datetime import datetime
from urllib.parse import urlsplit

import jsonschema
import pytest
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tests.conftest import make_vod
from vodstore.api_root import ENTRY_POINTS, ROOT_EXAMPLE

PASSWORD = "s3cret-pass-123"  # tests.conftest.make_user's


def assert_api_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert body["code"] == code and isinstance(body["detail"], str) and body["detail"]
    return body


# --- GET /api/ -------------------------------------------------------------------------


def test_the_root_lists_every_entry_point_to_anyone(api_client, db):
    response = api_client.get("/api/")

    assert response.status_code == 200
    body = response.json()
    assert list(body) == list(ENTRY_POINTS)
    for name, url in body.items():
        assert url == f"http://testserver{reverse(ENTRY_POINTS[name])}"


def test_every_entry_point_answers(api_client, user):
    api_client.force_authenticate(user)
    for name, url in api_client.get("/api/").json().items():
        method = api_client.post if name in ("signup", "token", "logout") else api_client.get
        response = method(url, {}, format="json") if method == api_client.post else method(url)
        assert response.status_code in (200, 204, 400), (name, response.status_code)


def test_the_roots_example_is_its_answer(api_client, db):
    answer = api_client.get("/api/", HTTP_HOST="127.0.0.1:8000").json()

    assert answer == ROOT_EXAMPLE


def test_the_root_is_in_the_schema():
    schema = SchemaGenerator().get_schema(request=None, public=True)

    operation = schema["paths"]["/api/"]["get"]
    assert {} in operation["security"]  # anyone
    assert "200" in operation["responses"]


def test_the_browsable_root_names_the_store_and_offers_log_in(client, db):
    page = client.get("/api/", HTTP_ACCEPT="text/html").content.decode()

    assert "<h1>VOD store API</h1>" in page
    assert 'href="/api/auth/session/login/?next=/api/"' in page
    assert "Django REST framework" not in page


# --- Log-in and log-out in the browsable API ---------------------------------------------


def test_an_anonymous_visitor_refused_in_the_browser_is_offered_log_in(client, db):
    response = client.get("/api/purchases/", HTTP_ACCEPT="text/html")

    assert response.status_code == 401
    page = response.content.decode()
    assert 'role="note"' in page
    assert 'href="/api/auth/session/login/?next=/api/purchases/"' in page
    assert "Authorization: Token" in page


def test_log_in_in_the_browsable_api_and_back_where_one_was(client, user):
    form = client.get("/api/auth/session/login/?next=/api/purchases/")
    assert form.status_code == 200 and 'name="password"' in form.content.decode()

    response = client.post(
        "/api/auth/session/login/",
        {"username": user.username, "password": PASSWORD, "next": "/api/purchases/"},
    )

    assert response.status_code == 302 and response["Location"] == "/api/purchases/"
    page = client.get("/api/purchases/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert user.username in page.content.decode()


def test_log_out_in_the_browsable_api_is_a_form_without_script(client, user):
    client.force_login(user)
    page = client.get("/api/purchases/", HTTP_ACCEPT="text/html").content.decode()
    form = re.search(r'<form method="post" action="([^"]+)" class="navbar-form">', page)
    assert form and form.group(1) == "/api/auth/session/logout/"

    response = client.post(form.group(1), {"next": "/api/purchases/"})

    assert response.status_code == 302 and response["Location"] == "/api/purchases/"
    assert client.get("/api/purchases/").status_code == 401


def test_failed_log_ins_in_the_browsable_api_are_counted_by_axes(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        client.post("/api/auth/session/login/", {"username": user.username, "password": "no"})

    response = client.post(
        "/api/auth/session/login/", {"username": user.username, "password": PASSWORD}
    )

    assert_api_error(response, 429, "locked_out")
    assert client.get("/api/purchases/").status_code == 401


# --- Every address under /api/ answers in the one error shape ------------------------------


@pytest.fixture(params=[False, True], ids=["DEBUG off", "DEBUG on"])
def debug(request, settings):
    """The same answers with DEBUG on (`make run`), where Django's `handler404` is not
    used."""
    settings.DEBUG = request.param


@pytest.mark.parametrize(
    "path",
    [
        "/api/vods/abc/",
        "/api/nothing/",
        "/api/nothing",
        "/api/vods/99999999999999999999/",
        "/api/auth/",
        "/api/vods/1/extra/",
    ],
)
def test_an_address_that_names_nothing_is_the_json_404(api_client, db, debug, path):
    assert_api_error(api_client.get(path), 404, "not_found")
    assert_api_error(api_client.post(path, {}, format="json"), 404, "not_found")


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/api", "/api/"),
        ("/api/vods", "/api/vods/"),
        ("/api/vods/1", "/api/vods/1/"),
        ("/api/purchases?status=paid", "/api/purchases/?status=paid"),
    ],
)
def test_an_address_without_its_final_slash_is_a_308_to_it(api_client, db, debug, path, location):
    for method in (api_client.get, api_client.post):
        response = method(path)

        assert_api_error(response, 308, "moved_permanently")
        assert response["Location"] == location


def test_a_post_without_the_final_slash_buys_when_followed(user, vod):
    client = APIClient()
    client.force_authenticate(user)

    moved = client.post("/api/purchases", {"vod": vod.id}, format="json")
    bought = client.post(moved["Location"], {"vod": vod.id}, format="json")

    assert moved.status_code == 308 and bought.status_code == 201


def test_a_method_no_endpoint_takes_is_the_json_405(api_client, user, debug):
    api_client.force_authenticate(user)
    for path in ("/api/", "/api/payments/", "/api/auth/token/", "/api/mileage/"):
        assert_api_error(api_client.delete(path), 405, "method_not_allowed")
    for path in ("/api/auth/session/login/", "/api/auth/session/logout/"):
        response = api_client.delete(path)
        assert_api_error(response, 405, "method_not_allowed")
        assert "POST" in response["Allow"]


def test_a_server_error_under_api_is_json(db, settings):
    from vodstore import error_pages

    request = APIClient().get("/api/nothing/").wsgi_request
    for response, status, code in [
        (error_pages.server_error(request), 500, "server_error"),
        (error_pages.bad_request(request, Exception()), 400, "invalid"),
        (error_pages.permission_denied(request, Exception()), 403, "permission_denied"),
        (error_pages.csrf_failure(request), 403, "permission_denied"),
    ]:
        assert_api_error(response, status, code)


# --- Readable names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/", "VOD store API"),
        ("/api/vods/", "Films"),
        ("/api/vods/{vod}/", "Film"),
        ("/api/purchases/", "Purchases"),
        ("/api/purchases/{purchase}/", "Purchase"),
        ("/api/purchases/{purchase}/cancel/", "Cancel a purchase"),
        ("/api/payments/", "Payments"),
        ("/api/mileage/", "Mileage"),
        ("/api/mileage/entries/", "Mileage ledger"),
        ("/api/progress/", "Continue watching"),
        ("/api/auth/signup/", "Sign up"),
        ("/api/auth/token/", "Get an API token"),
    ],
)
def test_pages_of_the_browsable_api_have_readable_names(client, user, vod, path, name):
    client.force_login(user)
    bought = client.post("/api/purchases/", {"vod": vod.id}, content_type="application/json")
    path = path.format(vod=vod.id, purchase=bought.json()["id"])

    page = client.get(path, HTTP_ACCEPT="text/html").content.decode()

    assert f"<h1>{name}</h1>" in page
    assert f"<title>{name} \N{EN DASH} VOD store API</title>" in page


# --- Examples in the OpenAPI schema ----------------------------------------------------------


def _resolve(node, components):
    """`node` with its $refs replaced and OpenAPI 3.0's `nullable` written as JSON Schema."""
    if isinstance(node, list):
        return [_resolve(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _resolve(components[node["$ref"].rsplit("/", 1)[1]], components)
    node = {key: _resolve(value, components) for key, value in node.items()}
    if node.pop("nullable", False):
        node = {"anyOf": [node, {"type": "null"}]}
    return node


def _examples(schema):
    """(where, JSON schema, example value) of every request and response example."""
    components = schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            bodies = [
                ("request", operation.get("requestBody", {})),
                *operation["responses"].items(),
            ]
            for status, body in bodies:
                for media_type, content in body.get("content", {}).items():
                    for name, example in content.get("examples", {}).items():
                        where = f"{method.upper()} {path} {status} {media_type} {name}"
                        yield where, _resolve(content["schema"], components), example["value"]
            for parameter in operation.get("parameters", []):
                for name, example in parameter.get("examples", {}).items():
                    where = f"{method.upper()} {path} {parameter['name']} {name}"
                    yield where, parameter["schema"], example["value"]


FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("uri")
def _is_uri(value) -> bool:
    if not isinstance(value, str):
        return True  # (a format says nothing of other types)
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


@FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value) -> bool:
    return not isinstance(value, str) or bool(uuid.UUID(value))


def test_every_example_in_the_schema_is_valid_for_its_schema():
    schema = copy.deepcopy(SchemaGenerator().get_schema(request=None, public=True))

    examples = list(_examples(schema))

    assert len(examples) > 40
    for where, body_schema, value in examples:
        validator = jsonschema.Draft7Validator(body_schema, format_checker=FORMATS)
        errors = list(validator.iter_errors(value))
        assert not errors, f"{where}: {errors[0].message}"


def test_the_schema_has_realistic_examples_where_a_newcomer_starts():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]

    def examples(path, method, status="request", media_type="application/json"):
        operation = paths[path][method]
        body = operation["requestBody"] if status == "request" else operation["responses"][status]
        return [e["value"] for e in body["content"][media_type]["examples"].values()]

    assert {"vod": 1, "payment_method": "card"} in examples("/api/purchases/", "post")
    assert examples("/api/purchases/", "post", "201")[0]["status"] == "paid"
    assert examples("/api/purchases/{id}/cancel/", "post", "200")[0]["status"] == "cancelled"
    assert {e["code"] for e in examples("/api/purchases/", "post", "402")} == {
        "payment_declined",
        "insufficient_mileage",
    }
    assert {e["reason"] for e in examples("/api/purchases/{id}/cancel/", "post", "409")} == {
        "not_paid",
        "refund_window_passed",
        "watched",
    }
    assert "username" in examples("/api/auth/signup/", "post")[0]
    assert "token" in examples("/api/auth/token/", "post", "200")[0]
    assert examples("/api/mileage/", "get", "200")[0]["balance"] == 1000
    listed = examples("/api/payments/", "get", "200")[0]
    assert listed["count"] == 1 and listed["next"] is None and listed["results"][0]["id"]
    (key,) = paths["/api/purchases/"]["post"]["parameters"]
    assert key["name"] == "Idempotency-Key" and key["examples"]
    text = str(schema)
    assert "9223372036854776000" not in text and "api.example.org" not in text


def test_the_examples_of_a_film_match_the_first_original_film(api_client, db):
    from catalog.rest import VOD_EXAMPLE

    film = make_vod(**{k: VOD_EXAMPLE[k] for k in ("title", "synopsis", "genre", "price")})
    answer = api_client.get(f"/api/vods/{film.id}/").json()

    assert answer.keys() == VOD_EXAMPLE.keys()
