"""The storefront's error pages (400, 403, 404, 500; 503 is `vodstore.outage`'s), in the
store's look with a way back.

They are rendered without the request's context and ask for nothing (no user, no
points balance), so a page still shows when the database or the session is what
failed. Under /api/ every one of them is the API's one JSON error shape instead, as
`vodstore.api.not_found` answers 404s there."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader


def under_api(request: HttpRequest) -> bool:
    """An address of the JSON API (`/api` itself too): its errors are JSON."""
    return request.path_info == "/api" or request.path_info.startswith("/api/")


def api_error(status: int, code: str, detail: str) -> JsonResponse:
    """An error answer of the API outside DRF, in its one shape."""
    return JsonResponse({"code": code, "detail": detail}, status=status)


def error_page(template_name: str, status: int) -> HttpResponse:
    return HttpResponse(loader.render_to_string(template_name), status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if under_api(request):
        return api_error(400, "invalid", "The request could not be read.")
    return error_page("400.html", 400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """`handler403`."""
    if under_api(request):
        return api_error(403, "permission_denied", "You may not do this.")
    return error_page("403.html", 403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page("404.html", 404)


def server_error(request: HttpRequest) -> HttpResponse:
    if under_api(request):
        return api_error(500, "server_error", "Something went wrong on our side.")
    return error_page("500.html", 500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """`CSRF_FAILURE_VIEW`: a form sent with a stale or missing CSRF token (under /api/,
    the browsable API's log-in form)."""
    if under_api(request):
        return api_error(403, "permission_denied", "CSRF check failed: reload the page and retry.")
    return error_page("403_csrf.html", 403)
