"""The API's front door: `GET /api/` (its entry points), the browsable API's log-in and
log-out (the session), and the answer to any address under /api/ that names nothing."""

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, path, resolve, reverse_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from vodstore.error_pages import api_error

# name in the answer -> URL name, in the order a newcomer meets them
ENTRY_POINTS = {
    "signup": "signup-api",
    "token": "token",
    "logout": "token-logout",
    "vods": "vod-list",
    "purchases": "purchase-list",
    "payments": "payment-list",
    "mileage": "mileage",
    "mileage_entries": "mileage-entries",
    "progress": "progress-list",
    "schema": "schema",
    "docs": "swagger-ui",
}

ENTRY_HELP = {
    "signup": "POST a username and password: an account and an API token.",
    "token": "POST a username and password: a new API token.",
    "logout": "POST with a token: that token stops working.",
    "vods": "The films on sale (anyone); `?search=`, `?genre=`, `?ordering=`.",
    "purchases": "Your purchases; POST `{vod, payment_method}` to buy a film.",
    "payments": "Your payments; `?purchase=` for one purchase's.",
    "mileage": "Your points balance, what a free film costs, what a purchase earns.",
    "mileage_entries": "Your points ledger, newest first.",
    "progress": "The films you started and have not finished.",
    "schema": "The OpenAPI 3 schema of this API.",
    "docs": "Interactive documentation of this API (Swagger UI).",
}


class ApiRootSerializer(serializers.Serializer):
    """The API's entry points, each an absolute URL."""

    def get_fields(self):
        return {name: serializers.URLField(help_text=ENTRY_HELP[name]) for name in ENTRY_POINTS}


# (written out: URLs cannot be reversed while the URLconf imports this module; a test
# holds it to the real answer)
ROOT_EXAMPLE = {
    "signup": "http://127.0.0.1:8000/api/auth/signup/",
    "token": "http://127.0.0.1:8000/api/auth/token/",
    "logout": "http://127.0.0.1:8000/api/auth/logout/",
    "vods": "http://127.0.0.1:8000/api/vods/",
    "purchases": "http://127.0.0.1:8000/api/purchases/",
    "payments": "http://127.0.0.1:8000/api/payments/",
    "mileage": "http://127.0.0.1:8000/api/mileage/",
    "mileage_entries": "http://127.0.0.1:8000/api/mileage/entries/",
    "progress": "http://127.0.0.1:8000/api/progress/",
    "schema": "http://127.0.0.1:8000/api/schema/",
    "docs": "http://127.0.0.1:8000/api/docs/",
}


class ApiRootView(APIView):
    """Where to start. Sign up (`signup`) or get a token (`token`) with your username and
    password, then send it with every request: `Authorization: Token <token>`. Films
    are public; purchases, payments, points and progress are yours alone.

    In a browser, **Log in** (top right) uses the store's account and session instead;
    the interactive documentation is at `docs`."""

    name = _("VOD store API")
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="api_root",
        responses=ApiRootSerializer,
        examples=[OpenApiExample("The entry points", value=ROOT_EXAMPLE, response_only=True)],
    )
    def get(self, request):
        return Response(
            {name: reverse(url_name, request=request) for name, url_name in ENTRY_POINTS.items()}
        )


# --- Log-in and log-out for the browsable API (the session) ----------------------------


class JsonMethodNotAllowed:
    """A Django view under /api/ that refuses a method in the API's error shape (Django's
    own 405 has an empty body)."""

    def http_method_not_allowed(self, request, *args, **kwargs):
        response = api_error(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
        response["Allow"] = ", ".join(self._allowed_methods())
        return response


class SessionLoginView(JsonMethodNotAllowed, auth_views.LoginView):
    """Django's log-in (django-axes counts its failures) in the browsable API's look."""

    template_name = "rest_framework/login.html"
    next_page = reverse_lazy("api-root")


class SessionLogoutView(JsonMethodNotAllowed, auth_views.LogoutView):
    """Django's log-out (a POST); back to the API's root unless `next` says where."""

    next_page = reverse_lazy("api-root")


# DRF's browsable API links to `rest_framework:login` and `rest_framework:logout`.
session_urls = (
    [
        path("login/", SessionLoginView.as_view(), name="login"),
        path("logout/", SessionLogoutView.as_view(), name="logout"),
    ],
    "rest_framework",
)


# --- Addresses that name nothing ----------------------------------------------------------


@csrf_exempt  # it changes nothing; a CSRF refusal would hide the 404 or the redirect
def no_such_endpoint(request: HttpRequest) -> HttpResponse:
    """The last URL pattern under /api/ (and /api itself): an address that names no
    endpoint is a 404 in the API's one error shape, with `DEBUG` on too (Django's
    `handler404` only answers with it off). An endpoint's address without its final
    slash is a 308 to the address with it: a 308 keeps the method and the body, where
    Django's APPEND_SLASH would answer a POST with a 301 that clients follow as a GET
    (or, with `DEBUG`, with a 500)."""
    if not request.path_info.endswith("/"):
        with_slash = request.path_info + "/"
        try:
            match = resolve(with_slash)
        except Resolver404:
            match = None
        if match is not None and match.func is not no_such_endpoint:
            location = request.path[: -len(request.path_info)] + with_slash
            if request.META.get("QUERY_STRING"):
                location += "?" + request.META["QUERY_STRING"]
            response = api_error(
                308, "moved_permanently", f"This address ends with a slash: {location}"
            )
            response["Location"] = location
            return response
    return api_error(404, "not_found", "Not found.")
