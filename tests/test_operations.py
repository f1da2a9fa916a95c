"""Health, readiness, schema and docs endpoints, and the production settings guard."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vodstore.logs import SkipExpectedRefusals

ROOT = Path(__file__).resolve().parent.parent


def test_healthz_touches_no_database(client):
    # No `db` fixture: pytest-django makes any database access here an error.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


@pytest.mark.django_db
def test_openapi_schema_is_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/vods/" in schema["paths"]


@pytest.mark.django_db
def test_docs_are_served_without_internet(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower() and "https://" not in html


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "SECURE_HTTPS"}
    }
    clean["DJANGO_SETTINGS_MODULE"] = "vodstore.settings"
    clean.update(env)
    return subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_refuses_a_weak_secret_key():
    result = _manage("check", DEBUG="false", SECRET_KEY="django-insecure-short")
    assert result.returncode != 0
    assert "too weak" in result.stderr


def test_production_settings_pass_check_deploy_without_warnings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="k" * 20 + "a-real-random-looking-secret-9f8e7d6c5b4a3f2e1d0c",
        ALLOWED_HOSTS="vod.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_expected_refusals_are_not_logged_as_errors_but_server_errors_are():
    def record(status: int) -> logging.LogRecord:
        rec = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "x", (), None)
        rec.status_code = status
        return rec

    keep = SkipExpectedRefusals().filter
    assert not keep(record(503)) and not keep(record(429))
    assert keep(record(500)) and keep(record(502))


def test_metrics_are_for_operators_only(db, client, user_client, settings):
    settings.METRICS_TOKEN = "scrape-" + "s3cret" * 8
    settings.METRICS_ALLOWED_ADDRESSES = []

    assert client.get("/metrics").status_code == 404
    assert user_client.get("/metrics").status_code == 404, "signing in is not enough"
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 404
    scraped = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_TOKEN}")
    assert scraped.status_code == 200 and b"payment_guard_state" in scraped.content
    settings.METRICS_ALLOWED_ADDRESSES = ["127.0.0.1"]
    assert client.get("/metrics").status_code == 200


def test_metrics_recount_the_big_tables_once_a_minute(
    db, client, settings, django_assert_num_queries
):
    settings.METRICS_ALLOWED_ADDRESSES = ["127.0.0.1"]
    client.get("/metrics")  # counts, and keeps the counts
    with django_assert_num_queries(0):
        client.get("/metrics")
