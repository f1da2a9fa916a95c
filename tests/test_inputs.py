"""No 500 from any input (issue 11), and the API's cancel asking for the admin's permission.

Each of these inputs gave a 500, or let a staff account do what the admin refuses:
JSON nested 1,000 deep, a NUL byte (PostgreSQL refuses one in text), a `next` that is
a plain word, OPTIONS on the API docs, "²" as a number, a staff cancel. Every refusal
is a 400 (the API's one error shape under /api/) and writes nothing."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import RequestFactory
from django.urls import resolve, reverse
from rest_framework.test import APIClient

from catalog.models import Vod
from catalog.search import title_contains
from mileage.models import MileageEntry
from payment.models import Payment
from purchase.models import Purchase
from tests.conftest import make_user, make_vod
from vodstore import api, parsers
from vodstore.models import OutboxEvent

pytestmark = pytest.mark.django_db


def written() -> dict[str, int]:
    """How many rows the store has of what a request could write."""
    models = [User, Vod, Purchase, Payment, MileageEntry, OutboxEvent]
    return {model.__name__: model.objects.count() for model in models}


def assert_api_error(response, status: int, code: str) -> dict:
    """`response` is the API's one error shape with this status and code."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code and isinstance(body["detail"], str) and body["detail"]
    assert set(body) <= {"code", "detail", "errors", "retry_after"}
    return body


@pytest.fixture
def signed_in(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- 1. JSON nested 1,000 deep --------------------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("path", ["/api/auth/signup/", "/api/auth/token/", "/api/purchases/"])
def test_json_nested_a_thousand_deep_is_400_invalid(signed_in, path):
    before = written()

    for body in (nested(1000), '{"vod": ' + nested(parsers.MAX_DEPTH) + "}"):
        response = signed_in.post(path, body, content_type="application/json")

        detail = assert_api_error(response, 400, "invalid")["detail"]
        assert "nested deeper than" in detail
    assert written() == before


def test_json_as_deep_as_allowed_is_read(signed_in, vod):
    body = '{"vod": ' + nested(parsers.MAX_DEPTH - 1) + ', "payment_method": "card"}'

    response = signed_in.post("/api/purchases/", body, content_type="application/json")

    # read, then refused by the serializer as any other wrong value
    assert assert_api_error(response, 400, "invalid")["errors"].keys() == {"vod"}


def test_depth_counts_arrays_and_objects_whatever_their_width():
    assert parsers.depth(1) == 0
    assert parsers.depth([]) == 1
    assert parsers.depth({"a": [1, {"b": []}], "c": 2}) == 4
    assert parsers.depth([[]] * 10_000) == 2
    deep: list = []
    for _ in range(100_000):  # far deeper than any stack
        deep = [deep]
    assert parsers.depth(deep) == 100_001


def test_forms_are_still_read(api_client):
    response = api_client.post(
        "/api/auth/signup/", {"username": "minji", "password": "a-long-pass-phrase"}
    )

    assert response.status_code == 201
    assert User.objects.filter(username="minji").exists()


# --- 2. NUL bytes and other control characters ------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/?q=%00",
        "/?q=harbor%00",
        "/?genre=%00",
        "/?page=%00",
        "/?q=%1B",  # ESC, another C0 control character
        "/?%00=1",  # in a parameter's name
        "/films/%00/",
        "/accounts/login/?next=/%00",
    ],
)
def test_a_control_character_in_a_page_address_is_a_plain_400(client, path):
    response = client.get(path)

    assert response.status_code == 400
    assert not response["Content-Type"].startswith("application/json")


def test_tabs_and_newlines_are_still_words(client):
    make_vod(title="The Harbor")

    assert client.get("/?q=The%09Harbor%0A").status_code == 200


def test_a_nul_in_the_admins_search_and_filters_is_400(admin_client):
    for query in ("q=%00", "status__exact=%00", "p=%00"):
        assert admin_client.get(f"/admin/purchase/purchase/?{query}").status_code == 400
    assert admin_client.get("/admin/purchase/purchase/?q=x").status_code == 200


@pytest.mark.parametrize(
    "query",
    ["search=%00", "search=a%00b", "genre=%00", "ordering=%00", "page=%00", "%00=1"],
)
def test_a_nul_in_an_api_query_parameter_is_400_invalid_query(api_client, query):
    body = assert_api_error(api_client.get(f"/api/vods/?{query}"), 400, "invalid_query")

    assert len(body["errors"]) == 1


def test_a_nul_in_a_form_field_writes_nothing(client, api_client):
    before = written()
    form = {"username": "min\x00ji", "password1": "a-long-pass-phrase"}

    page = client.post("/accounts/signup/", {**form, "password2": form["password1"]})
    api = api_client.post("/api/auth/signup/", {"username": "min\x00ji", "password": "a-long-pp"})

    assert page.status_code == 400
    assert assert_api_error(api, 400, "invalid")["errors"].keys() == {"username"}
    assert written() == before


def test_a_nul_in_an_api_address_is_400(api_client):
    assert_api_error(api_client.get("/api/vods/%00/"), 400, "invalid")


def test_the_title_search_finds_nothing_for_a_nul_on_any_database():
    make_vod(title="The Harbor")

    for text in ("\x00", "ab\x00", "Harbor\x00"):
        assert list(title_contains(Vod.objects.all(), text)) == []


# --- 3. `next` that is a plain word ------------------------------------------------------


@pytest.mark.parametrize("next_url", ["abc", "catalog:list", "login", "//evil.example.com/", "x/y"])
def test_sign_up_with_a_next_that_is_no_path_goes_to_the_films(client, next_url):
    form = {
        "username": "minji",
        "email": "minji@example.com",
        "password1": "a-long-pass-phrase",
        "password2": "a-long-pass-phrase",
    }

    response = client.post(f"/accounts/signup/?next={next_url}", form)

    assert response.status_code == 302 and response["Location"] == reverse("catalog:list")
    assert User.objects.filter(username="minji").count() == 1


def test_a_member_opening_sign_up_with_a_word_as_next_goes_to_the_films(client, user):
    client.force_login(user)

    response = client.get("/accounts/signup/?next=abc")

    assert response.status_code == 302 and response["Location"] == reverse("catalog:list")


def test_a_next_that_is_a_path_on_this_site_is_followed(client, user):
    client.force_login(user)

    assert client.get("/accounts/signup/?next=/library/")["Location"] == "/library/"


# --- 4. OPTIONS on the API docs ------------------------------------------------------------


def test_options_on_the_api_docs_view_answers_its_methods():
    view = api.ApiDocsView.as_view(url_name="schema")

    response = view(RequestFactory().options("/api/docs/"))

    assert response.status_code == 200
    assert set(response["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert view(RequestFactory().get("/api/docs/")).render().status_code == 200


def test_options_on_the_api_docs_is_not_a_500(client):
    assert resolve("/api/docs/").func.view_class is api.ApiDocsView
    response = client.options("/api/docs/")

    assert response.status_code == 200 and "GET" in response["Allow"]
    assert client.get("/api/docs/").status_code == 200


# --- 5. "²" as a number --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("purchase=%C2%B2", "purchase"),  # ²: a digit to str.isdigit(), not a number to int()
        ("purchase=%D9%A3%C2%B2", "purchase"),
        ("purchase=0", "purchase"),
        ("purchase=-1", "purchase"),
        ("purchase=99999999999999999999", "purchase"),
        ("purchase=1.5", "purchase"),
        ("purchase=1.0", "purchase"),  # DRF's IntegerField would read it as 1
        ("purchase=%201", "purchase"),
        ("page_size=%C2%B2", "page_size"),
        ("page_size=30.0", "page_size"),
        ("page=%C2%B2", "page"),
        ("page=1.0", "page"),
    ],
)
def test_a_number_that_is_not_one_is_400_invalid_query(signed_in, query, parameter):
    response = signed_in.get(f"/api/payments/?{query}")

    assert assert_api_error(response, 400, "invalid_query")["errors"].keys() == {parameter}


def test_the_purchase_filter_still_filters(signed_in, user, vod, committed):
    with committed():
        bought = signed_in.post("/api/purchases/", {"vod": vod.id}, format="json").json()

    for query, count in ((f"?purchase={bought['id']}", 1), (f"?purchase={bought['id'] + 1}", 0)):
        assert signed_in.get(f"/api/payments/{query}").json()["count"] == count
    assert signed_in.get("/api/payments/").json()["count"] == 1
    assert signed_in.get("/api/payments/?purchase=").status_code == 400


def test_a_status_filter_that_is_no_status_is_400_invalid_query(signed_in):
    response = signed_in.get("/api/purchases/?status=%C2%B2")

    assert assert_api_error(response, 400, "invalid_query")["errors"].keys() == {"status"}


def test_a_filter_given_with_no_value_or_twice_is_refused(api_client, signed_in):
    response = api_client.get("/api/vods/?genre=")
    assert assert_api_error(response, 400, "invalid")["errors"].keys() == {"genre"}
    for query, name in (("status=", "status"), ("status=paid&status=cancelled", "status")):
        response = signed_in.get(f"/api/purchases/?{query}")
        assert assert_api_error(response, 400, "invalid_query")["errors"].keys() == {name}
    for query, name in (
        ("page=1&page=2", "page"),
        ("page=", "page"),
        ("search=a&search=b", "search"),
    ):
        response = api_client.get(f"/api/vods/?{query}")
        assert assert_api_error(response, 400, "invalid_query")["errors"].keys() == {name}


# --- 6. Cancelling someone else's purchase ---------------------------------------------------


@pytest.fixture
def bought(signed_in, vod, committed) -> dict:
    with committed():
        response = signed_in.post("/api/purchases/", {"vod": vod.id}, format="json")
    assert response.status_code == 201
    return response.json()


def cancel_as(user: User, purchase_id: int, committed):
    client = APIClient()
    client.force_authenticate(user)
    with committed():
        return client.post(f"/api/purchases/{purchase_id}/cancel/")


def test_staff_without_the_change_permission_cannot_cancel_a_customers_purchase(
    bought, committed, gateway
):
    staff = make_user(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_purchase"))
    before = written()

    response = cancel_as(staff, bought["id"], committed)

    assert_api_error(response, 404, "not_found")
    assert Purchase.objects.get(pk=bought["id"]).status == "paid"
    assert gateway.refunds == [] and written() == before


def test_staff_with_the_change_permission_cancel_as_the_admin_does(bought, committed, gateway):
    staff = make_user(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_purchase"))

    response = cancel_as(staff, bought["id"], committed)

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert Purchase.objects.get(pk=bought["id"]).status == "cancelled"
    assert len(gateway.refunds) == 1


def test_the_change_permission_without_staff_reaches_only_ones_own(bought, committed):
    # as in the admin, which no one but staff enters
    customer = make_user()
    customer.user_permissions.add(Permission.objects.get(codename="change_purchase"))

    assert_api_error(cancel_as(customer, bought["id"], committed), 404, "not_found")
    assert Purchase.objects.get(pk=bought["id"]).status == "paid"


# --- 7. Every error answer is in the schema ----------------------------------------------------


def test_every_api_operation_documents_its_error_answers(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    error = {"$ref": "#/components/schemas/Error"}
    assert schema["components"]["schemas"]["Error"]["required"] == ["code", "detail"]

    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            label = f"{method.upper()} {path}"
            assert {"400", "414", "503"} <= responses.keys(), label
            # the web server's own refusal of a too-long address, before the store
            assert responses["414"]["content"] == {"text/html": {"schema": {"type": "string"}}}
            for status, response in responses.items():
                if status >= "400" and status != "414":
                    assert response["content"].keys() == {"application/json"}, label
                    content = response["content"]["application/json"]
                    assert content["schema"] == error, label
                    assert content["examples"], f"{label} {status}: an example of the error"
                    assert response["description"], label
            if any(requirement for requirement in operation.get("security", [{}])):
                assert "401" in responses, label
            if "{" in path:
                assert "404" in responses, label
    purchase = schema["paths"]["/api/purchases/"]["post"]["responses"]
    assert {"402", "409", "422", "429"} <= purchase.keys()
    assert (
        "Retry-After" in purchase["429"]["headers"] and "Retry-After" in purchase["503"]["headers"]
    )
    assert "409" in schema["paths"]["/api/purchases/{id}/cancel/"]["post"]["responses"]
    assert {} in schema["paths"]["/api/vods/"]["get"]["security"]  # anyone may list films


# --- What Schemathesis found besides (tests/test_schema_fuzz.py) ----------------------------


def test_an_api_address_that_matches_no_url_is_the_json_404(client):
    for path in ("/api/vods/abc/", "/api/purchases/1234567890123456789/", "/api/nothing/"):
        assert_api_error(client.get(path), 404, "not_found")
    page = client.get("/films/abc/")
    assert page.status_code == 404 and not page["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("field", "value"),
    [("vod", "1"), ("vod", True), ("vod", 1.5), ("payment_method", 1)],
    ids=["vod as text", "vod as boolean", "vod as fraction", "method as number"],
)
def test_a_json_value_of_another_type_is_refused_not_coerced(signed_in, vod, field, value):
    before = written()

    response = signed_in.post("/api/purchases/", {"vod": vod.id, field: value}, format="json")

    assert assert_api_error(response, 400, "invalid")["errors"].keys() == {field}
    assert written() == before


def test_a_film_with_a_field_of_another_type_is_refused(catalog_staff):
    client = APIClient()
    client.force_authenticate(catalog_staff)
    film = {"title": "Ghost Ward", "genre": "horror", "release_year": 2001}
    film |= {"runtime_minutes": 90, "price": 3000}

    before = written()

    for field, value in (("title", 7), ("is_active", 0), ("price", "3000")):
        response = client.post("/api/vods/", {**film, field: value}, format="json")
        assert assert_api_error(response, 400, "invalid")["errors"].keys() == {field}
    form = client.post("/api/vods/", {**film, "is_active": "0"})  # a form: "true" or "false"
    assert assert_api_error(form, 400, "invalid")["errors"].keys() == {"is_active"}
    assert written() == before
    assert client.post("/api/vods/", {**film, "is_active": "false"}).status_code == 201


@pytest.mark.parametrize(
    "body",
    ['{"vod": 1, "payment_method": "\\ud800"}', '{"\\udfff": 1, "vod": 1}'],
)
def test_a_lone_surrogate_in_json_is_a_400_not_a_500(user_client, body):
    before = written()

    response = user_client.post("/api/purchases/", body, content_type="application/json")

    assert_api_error(response, 400, "invalid")
    assert written() == before


@pytest.mark.parametrize("media", ["json", "multipart"])
def test_a_field_an_operation_does_not_take_is_refused_and_nothing_is_written(
    signed_in, catalog_staff, vod, media
):
    """Mass assignment and typos alike: 400 naming the field, nothing stored."""
    refused = [
        (signed_in, "/api/purchases/", {"vod": vod.id, "status": "cancelled"}, "status"),
        (signed_in, "/api/purchases/", {"vod": vod.id, "payment_metod": "card"}, "payment_metod"),
        (
            APIClient(),
            "/api/auth/signup/",
            {"username": "eve", "password": "a-long-pass-42", "is_staff": "true"},
            "is_staff",
        ),
        (
            APIClient(),
            "/api/auth/token/",
            {"username": "alice", "password": "x", "scope": "all"},
            "scope",
        ),
    ]
    staff = APIClient()
    staff.force_authenticate(catalog_staff)
    film = {"title": "T", "genre": "drama", "release_year": 2020, "runtime_minutes": 90}
    refused.append((staff, "/api/vods/", {**film, "price": 100, "id": 5}, "id"))
    for client, path, body, field in refused:
        response = client.post(path, body, format=media)
        assert assert_api_error(response, 400, "invalid")["errors"].keys() == {field}, path
    assert not Purchase.objects.exists() and not OutboxEvent.objects.exists()
    assert not User.objects.filter(username="eve").exists()
    assert not Vod.objects.filter(title="T").exists()


def test_a_forms_csrf_token_is_no_unknown_field(client, user, vod):
    """The browsable API's form posts its CSRF token with the fields."""
    client.force_login(user)
    page = client.get("/api/purchases/", HTTP_ACCEPT="text/html")
    token = page.cookies["csrftoken"].value
    response = client.post(
        "/api/purchases/",
        {"vod": vod.id, "payment_method": "card", "csrfmiddlewaretoken": token},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 201, response.content


def test_every_request_body_in_the_schema_is_closed(api_client):
    schemas = api_client.get("/api/schema/?format=json").json()["components"]["schemas"]
    bodies = {name: s for name, s in schemas.items() if name.endswith("Request")}
    assert bodies and all(s["additionalProperties"] is False for s in bodies.values())
