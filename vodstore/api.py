"""Shared API infrastructure: the one error body shape and pagination."""

import math

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from vodstore.errors import DomainError
from vodstore.outage import RETRY_AFTER_SECONDS, is_outage, outage_body


class InvalidQuery(DomainError):
    status_code = 400
    code = "invalid_query"
    default_detail = "A query parameter is not valid."


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


class Pagination(PageNumberPagination):
    """Page-number pagination; `page_size` up to a cap; a bad page is a 400, not a 404."""

    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except exceptions.NotFound as exc:
            raise InvalidQuery(errors={"page": [str(exc.detail)]}) from exc

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None:
            try:
                size = int(raw)
            except ValueError:
                size = 0
            if size < 1:
                raise InvalidQuery(
                    errors={
                        "page_size": [f"Must be a whole number from 1 to {self.max_page_size}."]
                    }
                )
        return super().get_page_size(request)
