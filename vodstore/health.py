"""Operational endpoints: liveness and readiness."""

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive; touches nothing else."""
    return JsonResponse({"status": "ok"})


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache() -> None:
    cache.get("readyz")


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Whether the database and the cache answer: each is "ok" or "unavailable", never
    where it lives or what it said (that is for the logs). 503 while one is down."""
    checks = {}
    for name, check in (("database", _database), ("cache", _cache)):
        try:
            check()
            checks[name] = "ok"
        except Exception:  # any driver error means "not ready"
            checks[name] = "unavailable"
    ready = all(state == "ok" for state in checks.values())
    body = {"status": "ok" if ready else "unavailable", **checks}
    response = JsonResponse(body, status=200 if ready else 503)
    if not ready:
        response["Retry-After"] = "5"
    return response
