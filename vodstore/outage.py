"""Outages of the database or Redis are answered 503 with `Retry-After`, never 500.

One definition of an outage (`is_outage`) and of its answer (`outage_response`): JSON
`service_unavailable` under /api/ (and for the operations endpoints), a styled "we'll
be right back" page elsewhere. The page is rendered without the request's context
processors, which would ask the database that is down. It is used by the API's
exception handler, `OutageMiddleware` for views, and the project's `handler500` and
`handler400` for what fails in a middleware (a session that cannot be saved)."""

import logging
import sys

import redis
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext

from vodstore import error_pages

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5

# Lost or refused connections, timeouts. Not IntegrityError or ProgrammingError: those
# are answers from a database that works, and a bug must stay a loud 500.
OUTAGES = (
    OperationalError,
    InterfaceError,
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    ConnectionError,
    TimeoutError,
)


def is_outage(exc: BaseException | None) -> bool:
    """Whether `exc` (or what caused it) is a database or Redis being unreachable."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OUTAGES) and not _is_bug(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _is_bug(exc: BaseException) -> bool:
    # An OperationalError is also what SQLite raises for "no such table": a bug.
    return isinstance(exc, DatabaseError) and "no such" in str(exc)


def outage_body() -> dict:
    return {
        "code": "service_unavailable",
        "detail": "The store is briefly unavailable; please try again shortly.",
        "retry_after": RETRY_AFTER_SECONDS,
    }


def outage_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """The 503 for an outage: JSON for the API, the store's page for people."""
    logger.warning("%s %s: 503, a backing service is down: %r", request.method, request.path, exc)
    if request.path.startswith("/api/") or "json" in request.headers.get("Accept", ""):
        response = JsonResponse(outage_body(), status=503)
    else:
        html = render_to_string(
            "503.html",
            {"title": gettext("We'll be right back"), "retry_after": RETRY_AFTER_SECONDS},
        )
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class OutageMiddleware:
    """Turns an outage raised by a view into its 503."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        return outage_response(request, exc) if is_outage(exc) else None


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """`handler400`: Django answers a session it could not save as 400 ("session
    interrupted"); when the database was what failed, it is an outage."""
    if is_outage(exception):
        return outage_response(request, exception)
    return error_pages.bad_request(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """`handler500`: an outage met outside a view (a middleware reading the session or
    the user) is a 503 too; anything else is a real error."""
    exc = sys.exc_info()[1]
    if is_outage(exc):
        return outage_response(request, exc)
    return error_pages.server_error(request)
