"""Inputs refused at the door: control characters in the address or the parameters.

PostgreSQL refuses a NUL byte in text, so `?q=%00` reached the database as a 500 on
PostgreSQL (and passed on SQLite, so tests there never saw it); the admin's search
and filters did the same. No address, query parameter or form field of the store has
a use for a C0 control character (tab, newline and carriage return aside: a textarea
sends newlines), so `ControlCharacterMiddleware` answers 400 before any view sees one:
the API's one error shape under /api/, the site's 400 page elsewhere.

It goes right after `SecurityMiddleware`, before anything that reads the request."""

import re
from collections.abc import Iterable

from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError

# C0 control characters except tab (09), line feed (0A) and carriage return (0D)
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# The same, as an OpenAPI `pattern` for a free-text parameter: text without them.
NO_CONTROL_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
API_PREFIX = "/api/"
MESSAGE = "Control characters (such as NUL) are not allowed."


def has_control(text: str) -> bool:
    return CONTROL.search(text) is not None


def _bad_names(items: Iterable[tuple[str, list]]) -> list[str]:
    """The names of the parameters whose name or any value holds a control character."""
    return [
        CONTROL.sub("\ufffd", name)
        for name, values in items
        if has_control(name) or any(isinstance(v, str) and has_control(v) for v in values)
    ]


class ControlCharacterMiddleware:
    """400 for a control character in the path, a query parameter or a form field."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        is_api = request.path_info.startswith(API_PREFIX)
        if has_control(request.path_info):
            return self._refuse(
                request, is_api, "invalid", "The address holds a control character."
            )
        try:
            bad_query = _bad_names(request.GET.lists())
            bad_form = (
                _bad_names(request.POST.lists())
                if request.method == "POST" and request.content_type in FORM_TYPES
                else []
            )
        except (SuspiciousOperation, BadRequest, MultiPartParserError) as exc:
            # a body or query Django cannot read at all (too big, too many fields,
            # malformed): Django answers 400; the API in its own shape
            if not is_api:
                raise
            return _api_error("invalid", f"The request could not be read: {exc}")
        if bad_query:
            return self._refuse(request, is_api, "invalid_query", MESSAGE, bad_query)
        if bad_form:
            return self._refuse(request, is_api, "invalid", MESSAGE, bad_form)
        return self.get_response(request)

    @staticmethod
    def _refuse(
        request: HttpRequest, is_api: bool, code: str, detail: str, names: list[str] | None = None
    ) -> HttpResponse:
        if not is_api:
            # Django answers it with the site's 400 page (handler400), and logs it
            raise BadRequest(detail)
        errors = {name: [MESSAGE] for name in names} if names else None
        return _api_error(code, detail, errors)


def _api_error(code: str, detail: str, errors: dict | None = None) -> JsonResponse:
    body: dict = {"code": code, "detail": detail}
    if errors:
        body["errors"] = errors
    return JsonResponse(body, status=400)
