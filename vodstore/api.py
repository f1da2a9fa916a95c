"""Shared API infrastructure: the one error body shape (and its OpenAPI description),
query parameters, pagination, the docs page."""

import math
import re
from collections.abc import Collection, Mapping

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse, QueryDict
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import exceptions, permissions, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.fields import empty
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from vodstore import error_pages
from vodstore.errors import DomainError
from vodstore.outage import RETRY_AFTER_SECONDS, is_outage, outage_body


class InvalidQuery(DomainError):
    status_code = 400
    code = "invalid_query"
    default_detail = "A query parameter is not valid."


def single_values(request, names) -> None:
    """`InvalidQuery` if one of the parameters `names` is given more than once
    (`?page=1&page=2`): which one would count?"""
    repeated = [name for name in names if len(request.query_params.getlist(name)) > 1]
    if repeated:
        raise InvalidQuery(errors={name: ["Give this parameter once."] for name in repeated})


class WholeNumberField(serializers.IntegerField):
    """An integer written as one: digits, an optional minus. DRF's `IntegerField` also
    takes "30.0" and " 30 " from a query string, which the schema's `integer` does not."""

    WHOLE = re.compile(r"-?[0-9]+")

    def to_internal_value(self, data):
        if isinstance(data, str) and not self.WHOLE.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


def validated_query(request, query_class: type[serializers.Serializer]) -> dict:
    """The query parameters `query_class` declares, each parsed by its serializer field
    (an `IntegerField(min_value=..., max_value=...)`, a `ChoiceField`...), or
    `InvalidQuery` (400 `invalid_query`, `errors` per parameter). Never `isdigit()` and
    `int()`: "²" is a digit to `isdigit()` and not a number to `int()`. An empty one
    is a value like any other (`?status=` is no status: 400)."""
    fields = query_class().fields
    single_values(request, fields)
    data = {name: request.query_params[name] for name in fields if name in request.query_params}
    query = query_class(data=data)
    if not query.is_valid():
        raise InvalidQuery(
            errors={name: [str(m) for m in msgs] for name, msgs in query.errors.items()}
        )
    return query.validated_data


def _json_type_error(field: serializers.Field, value: object, is_form: bool) -> str | None:
    """Why `value`, as sent, is not of the JSON type `field` reads (None if it is)."""
    if isinstance(field, serializers.BooleanField):
        ok = value in ("true", "false") if is_form else isinstance(value, bool)
        return None if ok else "Must be true or false."
    if is_form:
        return None  # form fields are text, which the field parses
    if isinstance(field, serializers.IntegerField):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "Must be a whole number."
    if isinstance(field, serializers.FloatField):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "Must be a number."
    if isinstance(field, serializers.MultipleChoiceField | serializers.ListField):
        return None if isinstance(value, list) else "Must be a list."
    textual = (
        serializers.CharField,
        serializers.ChoiceField,
        serializers.DateTimeField,
        serializers.DateField,
    )
    if isinstance(field, textual) and not isinstance(value, str):
        return "Must be a string."
    return None


class JSONTypes:
    """A serializer mixin: a value of another JSON type than its field's is refused
    (400 `invalid`), not coerced. DRF's fields coerce: a string field takes 7 as "7",
    a boolean takes 0 or "no", a number takes "7"; the schema promises one type, and a
    client that sends another is told so rather than guessed at. In a form, where
    every value is text, a boolean is "true" or "false" (what the browsable API's
    checkbox sends); other fields parse their text as usual.

    A field the operation does not take (a misspelt one, `id`, `status`...) is refused
    too, as the schema says (`additionalProperties: false`): silently ignored, a typo
    would look like a default taken on purpose. A form's CSRF token is no field."""

    FORM_EXTRAS = frozenset({"csrfmiddlewaretoken"})

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            is_form = isinstance(data, QueryDict)
            writable = {field.field_name for field in self._writable_fields}
            errors = {
                name: ["This operation takes no such field."]
                for name in data
                if name not in writable and not (is_form and name in self.FORM_EXTRAS)
            }
            for field in self._writable_fields:
                value = data.get(field.field_name, empty)
                if value is empty or value is None:
                    continue  # the field's own rules for a missing or null value
                message = _json_type_error(field, value, is_form)
                if message:
                    errors[field.field_name] = [message]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def not_found(request, exception):
    """`handler404`: an address under /api/ that matches no URL (a path parameter that is
    no id) is the API's one error shape too; elsewhere the site's 404 page."""
    if error_pages.under_api(request):
        return error_pages.api_error(404, "not_found", "Not found.")
    return error_pages.page_not_found(request, exception)


def _first_code(codes: object) -> str:
    if isinstance(codes, str):
        return codes
    if isinstance(codes, dict):
        codes = next(iter(codes.values()), "invalid")
        return _first_code(codes)
    if isinstance(codes, list) and codes:
        return _first_code(codes[0])
    return "invalid"


def exception_handler(exc, context):
    """Map every error to `{"code": ..., "detail": ...}` (plus `errors` for fields);
    an outage of the database or Redis to 503 `service_unavailable`."""
    if is_outage(exc):
        return Response(
            outage_body(), status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )
    if isinstance(exc, DomainError):
        body = exc.as_body()
        headers = {}
        if "retry_after" in exc.extra:
            headers["Retry-After"] = str(exc.extra["retry_after"])
        return Response(body, status=exc.status_code, headers=headers)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500

    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if not isinstance(detail, dict):
            detail = {"non_field_errors": detail if isinstance(detail, list) else [detail]}
        response.data = {"code": "invalid", "detail": "Invalid input.", "errors": detail}
    else:
        response.data = {"code": _first_code(exc.get_codes()), "detail": str(exc.detail)}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response.data["retry_after"] = math.ceil(exc.wait)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response.data["code"] = (
            "not_authenticated"
            if isinstance(exc, exceptions.NotAuthenticated)
            else "authentication_failed"
        )
    return response


# The largest page number or page size a query may give: past it, a number is a typing
# accident or an attack on the paginator's arithmetic, not a page anyone wants.
MAX_PAGE_NUMBER = 2**31 - 1


class PageNotFound(DomainError):
    status_code = 404
    code = "not_found"
    default_detail = "There is no such page."


class Pagination(PageNumberPagination):
    """Page-number pagination; `page_size` up to a cap (more is capped, not refused).
    A page that is not a page number is a 400 `invalid_query`; a page number past the
    last page is a 404 `not_found`, as for any address that names nothing (the list
    may have been shorter when the link was made)."""

    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE

    def paginate_queryset(self, queryset, request, view=None):
        single_values(request, [self.page_query_param, self.page_size_query_param])
        try:
            return super().paginate_queryset(queryset, request, view)
        except exceptions.NotFound as exc:
            raise PageNotFound(
                f"There is no page {request.query_params.get(self.page_query_param)}."
            ) from exc

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if raw in self.last_page_strings:
            return paginator.num_pages
        try:
            return WholeNumberField(min_value=1, max_value=MAX_PAGE_NUMBER).run_validation(raw)
        except serializers.ValidationError:
            raise InvalidQuery(
                errors={"page": [f"Must be a page number from 1 to {MAX_PAGE_NUMBER}."]}
            ) from None

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None:
            try:
                size = WholeNumberField(min_value=1, max_value=MAX_PAGE_NUMBER).run_validation(raw)
            except serializers.ValidationError:
                raise InvalidQuery(
                    errors={
                        "page_size": [
                            f"Must be a whole number from 1 to {MAX_PAGE_NUMBER} "
                            f"(more than {self.max_page_size} gives {self.max_page_size})."
                        ]
                    }
                ) from None
            return min(size, self.max_page_size)  # more is not refused: capped
        return self.page_size

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"].update(minimum=1, maximum=MAX_PAGE_NUMBER)
        return parameters

    def get_paginated_response_schema(self, schema):
        # DRF's examples are of someone else's API ("http://api.example.org/accounts/");
        # a page of this one with all there is on it has no next or previous page.
        paginated = super().get_paginated_response_schema(schema)
        properties = paginated["properties"]
        properties["count"]["example"] = 1
        properties["next"]["example"] = properties["previous"]["example"] = None
        return paginated


# --- The error answers in the OpenAPI schema -----------------------------------------


class ErrorSerializer(serializers.Serializer):
    """The one shape of every error answer of the API."""

    code = serializers.CharField(help_text="What went wrong, for programs: `invalid`, ...")
    detail = serializers.CharField(help_text="What went wrong, for people.")
    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="For `invalid` and `invalid_query`: the messages, by field or parameter.",
    )
    retry_after = serializers.IntegerField(
        required=False, help_text="For 429 and 503: seconds to wait (also `Retry-After`)."
    )
    reason = serializers.CharField(
        required=False,
        help_text="For `not_cancellable`: `not_paid`, `refund_window_passed` or `watched`.",
    )


ERRORS = {
    400: "`invalid`: the body or a field is not valid (`errors` says which); "
    "`invalid_query`: a query parameter is not valid (`errors` says which); "
    "`parse_error`: the body is not well-formed; or a refusal named by its code.",
    401: "`not_authenticated`: no credentials; `authentication_failed`: a wrong token.",
    402: "`payment_declined`: the card was refused; `insufficient_mileage`: too few points.",
    403: "`permission_denied` (or a missing CSRF token with a session).",
    404: "`not_found`: there is no such object, or it is not yours; or no such page.",
    409: "`already_owned`, `not_cancellable` (with a `reason`) or `idempotency_in_progress`.",
    415: "`unsupported_media_type`: a body in a media type this operation does not read.",
    422: "`idempotency_key_reused`: this Idempotency-Key came with another request.",
    429: "`throttled`: too many attempts; `locked_out`: too many failed log-ins. Retry "
    "after `retry_after` seconds.",
    503: "`service_unavailable` (a backing service is down) or `payment_unavailable`: "
    "retry after `retry_after` seconds.",
}
# Not the application's answer but the web server's in front of it, for any operation:
# a request line longer than it reads (gunicorn: 4,094 bytes) never reaches Django.
URI_TOO_LONG = {
    "description": "The address is too long: the web server refuses a request line over "
    "4,094 bytes before the store sees it (its own HTML page, not the error shape).",
    "content": {"text/html": {"schema": {"type": "string"}}},
}
RETRY_AFTER = {
    "schema": {"type": "integer", "minimum": 0},
    "description": "Seconds to wait before trying again.",
}


# An example of each error code, by status: what the API really answers.
ERROR_EXAMPLES: dict[int, dict[str, dict]] = {
    400: {
        "invalid": {
            "code": "invalid",
            "detail": "Invalid input.",
            "errors": {"vod": ["This field is required."]},
        },
        "invalid_query": {
            "code": "invalid_query",
            "detail": "A query parameter is not valid.",
            "errors": {"page": [f"Must be a page number from 1 to {2**31 - 1}."]},
        },
    },
    401: {
        "not_authenticated": {
            "code": "not_authenticated",
            "detail": "Authentication credentials were not provided.",
        },
        "authentication_failed": {"code": "authentication_failed", "detail": "Invalid token."},
    },
    402: {
        "payment_declined": {"code": "payment_declined", "detail": "The payment was declined."},
        "insufficient_mileage": {
            "code": "insufficient_mileage",
            "detail": "Not enough mileage points for a free film.",
        },
    },
    403: {
        "permission_denied": {
            "code": "permission_denied",
            "detail": "You do not have permission to perform this action.",
        },
    },
    404: {"not_found": {"code": "not_found", "detail": "Not found."}},
    409: {
        "already_owned": {"code": "already_owned", "detail": "You already own this film."},
        "idempotency_in_progress": {
            "code": "idempotency_in_progress",
            "detail": "A request with this Idempotency-Key is still being processed.",
        },
        "not_cancellable": {
            "code": "not_cancellable",
            "detail": "The film has played past 2 minutes, so it can no longer be refunded.",
            "reason": "watched",
        },
    },
    415: {
        "unsupported_media_type": {
            "code": "unsupported_media_type",
            "detail": 'Unsupported media type "text/plain" in request.',
        },
    },
    422: {
        "idempotency_key_reused": {
            "code": "idempotency_key_reused",
            "detail": "This Idempotency-Key was already used with a different request.",
        },
    },
    429: {
        "throttled": {
            "code": "throttled",
            "detail": "Too many requests, please try again later.",
            "retry_after": 42,
        },
    },
    503: {
        "service_unavailable": {
            "code": "service_unavailable",
            "detail": "The store is briefly unavailable; please try again shortly.",
            "retry_after": 30,
        },
        "payment_unavailable": {
            "code": "payment_unavailable",
            "detail": "Payment is busy, please try again in 5 seconds.",
            "retry_after": 5,
        },
    },
}
# The codes shown for the statuses `AutoSchema` adds (the ones any operation can give).
DEFAULT_CODES = frozenset(
    {
        "invalid",
        "not_authenticated",
        "authentication_failed",
        "permission_denied",
        "not_found",
        "unsupported_media_type",
        "service_unavailable",
    }
)


def error_example(name: str, body: dict) -> OpenApiExample:
    return OpenApiExample(name, value=body, response_only=True)


def invalid_example(
    name: str, errors: dict, *, code: str = "invalid", detail: str = "Invalid input."
) -> OpenApiExample:
    """An `@extend_schema(examples=...)` entry: a 400 and the fields it refused, and why."""
    body = {"code": code, "detail": detail, "errors": errors}
    return OpenApiExample(name, value=body, response_only=True, status_codes=["400"])


def error_responses(
    *statuses: int, codes: Collection[str] = (), examples: dict[int, list] | None = None
) -> dict[int, OpenApiResponse]:
    """`@extend_schema(responses=...)` entries for these error statuses, each in the one
    error shape, with an example of each code it may carry (only of `codes`, when
    given; `examples[status]` instead, when given). `AutoSchema` adds the ones every
    operation can answer (400, 401, 403, 404, 415, 503, as they apply): a view names
    the others (402, 409, 422, 429)."""
    examples = examples or {}
    return {
        status: OpenApiResponse(
            ErrorSerializer,
            description=ERRORS[status],
            examples=examples[status]
            if status in examples
            else [
                error_example(code, body)
                for code, body in ERROR_EXAMPLES[status].items()
                if not codes or code in codes
            ],
        )
        for status in statuses
    }


def closed_request_bodies(result, generator, request, public):
    """drf-spectacular post-processing hook: every request body (the `...Request`
    components) takes only its properties, as `JSONTypes` holds it to."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    return result


# drf-spectacular's AutoSchema and its views import `rest_framework.generics`, which
# imports this module on its way (it is DEFAULT_PAGINATION_CLASS), and its views read
# DEFAULT_SCHEMA_CLASS as they load: extending them as this module loads is a circular
# import. So `AutoSchema` (DEFAULT_SCHEMA_CLASS) and `ApiDocsView` are each built on
# first use, by the module's `__getattr__`.


def __getattr__(name: str) -> type:
    builders = {"AutoSchema": _auto_schema, "ApiDocsView": _api_docs_view}
    if name not in builders:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    cls = builders[name]()
    cls.__module__, cls.__qualname__ = __name__, name
    globals()[name] = cls
    return cls


def _auto_schema() -> type:
    from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
    from drf_spectacular.plumbing import force_instance, is_serializer

    class AutoSchema(SpectacularAutoSchema):
        """drf-spectacular's AutoSchema, documenting the error answers any operation
        can give besides those its view names with `error_responses()`:

        - 400 always: any parameter or body can be malformed (and a control character
          in one is refused before the view, `vodstore.inputs`);
        - 401 where credentials are read (a wrong token is refused even where anyone
          may call); 403 where a permission or the session's CSRF check can refuse;
        - 404 with an id in the path or a page number in the query; 415 with a request
          body; 503 always (an outage).

        It also marks the operations anyone may call (`{}` in their `security`)."""

        ANONYMOUS_READ = (
            permissions.IsAuthenticatedOrReadOnly,
            permissions.DjangoModelPermissionsOrAnonReadOnly,
        )
        NOT_FORBIDDING = (permissions.AllowAny, permissions.IsAuthenticated, *ANONYMOUS_READ)

        def _anyone_may_call(self) -> bool:
            safe = self.method in permissions.SAFE_METHODS
            return all(
                isinstance(p, permissions.AllowAny) or (safe and isinstance(p, self.ANONYMOUS_READ))
                for p in self.view.get_permissions()
            )

        def error_statuses(self) -> set[int]:
            statuses = {400, 503}
            authenticators = self.view.get_authenticators()
            perms = self.view.get_permissions()
            unsafe = self.method not in permissions.SAFE_METHODS
            if authenticators:
                statuses.add(401)
            elif not self._anyone_may_call():
                statuses.add(403)  # refused, with no way to sign in here
            if unsafe and any(isinstance(a, SessionAuthentication) for a in authenticators):
                statuses.add(403)  # CSRF
            if any(not isinstance(p, self.NOT_FORBIDDING) for p in perms) or (
                unsafe and any(isinstance(p, self.ANONYMOUS_READ) for p in perms)
            ):
                statuses.add(403)
            if "{" in self.path or (self._is_list_view() and self._get_paginator()):
                statuses.add(404)  # no such object; a page past the last
            if unsafe and self.get_request_serializer() is not None:
                statuses.add(415)
            return statuses

        def get_auth(self):
            auths = super().get_auth()
            if {} not in auths and self._anyone_may_call():
                auths.append({})
            return auths

        def _invalid_example(self) -> dict:
            """A 400 this operation really gives: a field of its body missing, a page
            that is no page number, or a control character in a query parameter."""
            serializer = self.get_request_serializer() if self.method in ("POST", "PUT") else None
            serializer = force_instance(serializer)
            fields = [
                name
                for name, field in (serializer.fields if is_serializer(serializer) else {}).items()
                if field.required
            ]
            if fields:
                return {
                    "code": "invalid",
                    "detail": "Invalid input.",
                    "errors": {fields[0]: ["This field is required."]},
                }
            if self._is_list_view() and self._get_paginator():
                return ERROR_EXAMPLES[400]["invalid_query"]
            message = "Control characters (such as NUL) are not allowed."
            return {"code": "invalid_query", "detail": message, "errors": {"q": [message]}}

        def _get_response_bodies(self, direction="response"):
            responses = super()._get_response_bodies(direction)
            if direction == "response":
                # a status the view gives examples of itself gets no generic ones
                own = {str(c) for e in self.get_examples() for c in e.status_codes or ()}
                statuses = [s for s in self.error_statuses() if str(s) not in responses]
                generic = error_responses(
                    *statuses,
                    codes=DEFAULT_CODES,
                    examples={
                        400: [error_example("invalid", self._invalid_example())],
                        **{status: [] for status in statuses if str(status) in own},
                    },
                )
                for status, response in generic.items():
                    responses[str(status)] = self._get_response_for_code(response, str(status))
                responses.setdefault("414", URI_TOO_LONG)
            return dict(sorted(responses.items()))

        def _get_response_headers_for_code(self, status_code, direction="response"):
            headers = super()._get_response_headers_for_code(status_code, direction)
            if str(status_code) in ("429", "503"):
                headers.setdefault("Retry-After", RETRY_AFTER)
            return headers

    return AutoSchema


def _api_docs_view() -> type:
    from drf_spectacular.views import SpectacularSwaggerSplitView

    class ApiDocsView(SpectacularSwaggerSplitView):
        """The interactive API docs (Swagger UI, served locally).

        OPTIONS is answered with the methods allowed, as Django's own views do: DRF's
        OPTIONS answer (the view's metadata) rendered through the page's template was
        a 500 (the template needs the page's context)."""

        def options(self, request, *args, **kwargs):
            return HttpResponse(headers={"Allow": ", ".join(self.allowed_methods)})

    return ApiDocsView
