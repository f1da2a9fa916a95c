"""The storefront's error pages (400, 403, 404, 500; 503 is `vodstore.outage`'s), in the
store's look with a way back.

They are rendered without the request's context: no context processor runs (the points
balance, the user), so a page still shows when the database or the session is what
failed. Under /api/ errors are the API's JSON instead (`vodstore.api`)."""

from django.http import HttpRequest, HttpResponse
from django.template import loader


def error_page(template_name: str, status: int) -> HttpResponse:
    return HttpResponse(loader.render_to_string(template_name), status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page("400.html", 400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """`handler403`."""
    return error_page("403.html", 403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page("404.html", 404)


def server_error(request: HttpRequest) -> HttpResponse:
    return error_page("500.html", 500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """`CSRF_FAILURE_VIEW`: a form sent with a stale or missing CSRF token."""
    return error_page("403_csrf.html", 403)
