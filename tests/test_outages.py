"""Outages answer 503, never 500: the database gone, Redis gone or frozen, a rate limit
that does not count refused purchases, and an outbox worker that outlives an outage."""

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import time
import types
import uuid
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import OperationalError, ProgrammingError, connection
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from catalog import cache as catalog_cache
from payment.guard import GuardConfig, PaymentGuard, reset_guard
from purchase.models import Purchase
from tests.conftest import make_vod
from vodstore import events
from vodstore.management.commands import outbox_worker
from vodstore.models import OutboxEvent

pytestmark = pytest.mark.django_db

HANG_LIMIT_SECONDS = 10  # a hang check, not a speed claim
REDIS_TIMEOUTS = {"socket_connect_timeout": 0.3, "socket_timeout": 0.5}  # as in settings.py


# --- helpers -------------------------------------------------------------------------
@contextlib.contextmanager
def database_raising(exc: Exception):
    """Every query of this thread's connection (the test client's too) raises `exc`."""

    def refuse(execute, sql, params, many, context):
        raise exc

    with connection.execute_wrapper(refuse):
        yield


def database_gone():
    return database_raising(OperationalError("server closed the connection unexpectedly"))


def assert_outage_json(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "service_unavailable"
    assert body["detail"]
    assert int(response["Retry-After"]) > 0


def assert_outage_page(response) -> None:
    assert response.status_code == 503, response.content
    html = response.content.decode()
    assert "right back" in html
    assert f'href="/{settings.STATIC_URL.strip("/")}/css/store.css"' in html
    assert int(response["Retry-After"]) > 0


def redis_caches(url: str) -> dict:
    """The store's Redis backend at `url`, with the timeouts settings.py gives it."""
    return {
        "default": {
            "BACKEND": "vodstore.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
            "OPTIONS": dict(REDIS_TIMEOUTS),
        },
        "fragments": settings.CACHES["fragments"],  # each process's own, never Redis
    }


@contextlib.contextmanager
def caches_at(url: str):
    with override_settings(CACHES=redis_caches(url)):
        try:
            yield
        finally:
            catalog_cache.near.stop()  # the near cache's listener thread


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def buy(client, vod_id: int):
    return client.post("/api/purchases/", {"vod": vod_id}, format="json")


# --- the database is gone ------------------------------------------------------------
def test_api_purchase_list_is_503_when_the_database_is_gone(user_client):
    with database_gone():
        response = user_client.get("/api/purchases/")
    assert_outage_json(response)


def test_api_purchase_is_503_and_charges_nothing_when_the_database_is_gone(
    user_client, vod, gateway
):
    with database_gone():
        response = buy(user_client, vod.id)
    assert_outage_json(response)
    assert gateway.charges == []
    assert gateway.attempts == 0


def test_storefront_page_is_the_styled_503_when_the_session_cannot_be_read(user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    with database_gone():
        response = client.get("/purchases/")
    assert_outage_page(response)


@override_settings(SESSION_SAVE_EVERY_REQUEST=True)
def test_an_outage_met_in_a_middleware_is_the_styled_503_too(user):
    """The database dies after the view: the session's save, in SessionMiddleware,
    fails (Django's handler500 path, not the view's)."""
    client = Client(raise_request_exception=False)
    client.force_login(user)

    def writes_fail(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(("UPDATE", "INSERT")):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(writes_fail):
        response = client.get("/purchases/")
    assert_outage_page(response)


def test_api_by_session_is_503_when_the_session_cannot_be_read(user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    with database_gone():
        response = client.get("/api/purchases/")
    assert_outage_json(response)


def test_storefront_asking_for_json_gets_the_json_503(user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    with database_gone():
        response = client.get("/purchases/", HTTP_ACCEPT="application/json")
    assert_outage_json(response)


@pytest.mark.parametrize(
    "bug",
    [
        ProgrammingError('relation "purchase_purchase" does not exist'),
        OperationalError("no such table: purchase_purchase"),  # SQLite's word for it
    ],
    ids=["programming-error", "no-such-table"],
)
def test_a_genuine_database_bug_is_still_500(user, bug):
    api = APIClient()
    api.raise_request_exception = False
    api.force_authenticate(user)
    with database_raising(bug):
        response = api.get("/api/purchases/")
    assert response.status_code == 500

    page = Client(raise_request_exception=False)
    page.force_login(user)
    with database_raising(bug):
        response = page.get("/purchases/")
    assert response.status_code == 500
    assert "Retry-After" not in response


# --- Redis is gone -------------------------------------------------------------------
@pytest.fixture
def redis_gone():
    """The store's Redis backend pointed at a port where nothing listens."""
    with caches_at("redis://127.0.0.1:1/0"):
        yield


def test_catalog_answers_from_the_database_while_redis_is_gone(vod, client, redis_gone):
    response = client.get("/api/vods/")
    assert response.status_code == 200
    assert "The Harbor" in [film["title"] for film in response.json()["results"]]
    assert client.get(f"/api/vods/{vod.id}/").status_code == 200
    page = client.get("/")
    assert page.status_code == 200
    assert b"The Harbor" in page.content


def test_purchase_is_503_without_calling_the_gateway_while_redis_is_gone(
    vod, user_client, gateway, redis_gone
):
    response = buy(user_client, vod.id)
    assert_outage_json(response)
    assert gateway.attempts == 0
    assert not Purchase.objects.exists()


def test_storefront_buy_is_the_styled_503_while_redis_is_gone(vod, user, gateway, redis_gone):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    form = {"payment_method": "card", "idempotency_key": str(uuid.uuid4())}
    response = client.post(f"/films/{vod.id}/buy/", form)
    assert_outage_page(response)
    assert gateway.attempts == 0
    assert not Purchase.objects.exists()


def test_readyz_names_the_cache_but_not_where_it_lives(db, client, redis_gone):
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "cache": "unavailable"}
    assert int(response["Retry-After"]) > 0
    body = response.content.decode()
    assert "127.0.0.1" not in body and ":1" not in body and "redis" not in body.lower()


# --- Redis is frozen -----------------------------------------------------------------
@pytest.fixture
def frozen_redis(tmp_path):
    """A private redis-server, then stopped with SIGSTOP: it accepts connections but
    never answers. Yields after pointing the cache at it."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed, and CI must run this test")
        pytest.skip("redis-server is not installed")
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - a fixed local binary
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
                break
            except redis.RedisError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server on port {port} did not start")
                time.sleep(0.05)
        with caches_at(url):
            os.kill(server.pid, signal.SIGSTOP)
            yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.pid, signal.SIGCONT)
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_purchase_is_503_not_a_hang_while_redis_is_frozen(vod, user_client, gateway, frozen_redis):
    started = time.monotonic()
    response = buy(user_client, vod.id)
    took = time.monotonic() - started
    assert_outage_json(response)
    assert took < HANG_LIMIT_SECONDS, f"the purchase took {took:.1f} s"
    assert gateway.attempts == 0
    assert not Purchase.objects.exists()


def test_catalog_answers_while_redis_is_frozen(vod, client, frozen_redis):
    started = time.monotonic()
    response = client.get("/api/vods/")
    took = time.monotonic() - started
    assert response.status_code == 200
    assert "The Harbor" in [film["title"] for film in response.json()["results"]]
    assert took < HANG_LIMIT_SECONDS, f"the catalog took {took:.1f} s"


# --- the purchase rate limit counts only attempted purchases --------------------------
class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["locmem", "redis"])
def rate_cache(request):
    """The rate limit's counters in the default cache and in the store's Redis backend."""
    if request.param == "redis":
        request.getfixturevalue("redis_cache")


@pytest.fixture
def two_purchases_a_minute(rate_cache):
    # (inside the cache's override: settings overrides must end in reverse order)
    with override_settings(PURCHASE_RATE="2/min"):
        yield


@pytest.fixture
def frozen_minute(monkeypatch):
    """Keep the rate limit's window from turning over in the middle of a test."""
    start = (time.time() // 60) * 60 + 1
    monkeypatch.setattr("vodstore.ratelimit.time", types.SimpleNamespace(time=lambda: start))


@pytest.mark.parametrize("refusal", ["gateway-fails", "breaker-open"])
def test_refused_purchases_do_not_count_against_the_rate_limit(
    user_client, gateway, two_purchases_a_minute, frozen_minute, refusal
):
    films = [make_vod() for _ in range(3)]
    clock = Clock()
    config = GuardConfig.from_settings()
    if refusal == "breaker-open":
        config = dataclasses.replace(config, minimum_calls=3)
    reset_guard(PaymentGuard(config, clock=clock))

    gateway.fail = True
    for _ in range(3):  # the last of these opens the breaker in "breaker-open"
        response = buy(user_client, films[0].id)
        assert response.status_code == 503
        assert response.json()["code"] == "payment_unavailable"
        assert int(response["Retry-After"]) > 0
    if refusal == "breaker-open":
        attempts = gateway.attempts
        for _ in range(3):
            response = buy(user_client, films[0].id)
            assert response.status_code == 503
            assert response["Retry-After"] == str(int(config.open_seconds))
        assert gateway.attempts == attempts  # refused by the open breaker

    # healed: the gateway answers, the breaker's wait is over; the cache is kept
    gateway.fail = False
    clock.now += config.open_seconds + 1
    if refusal == "gateway-fails":
        reset_guard()
    for film in films[:2]:
        response = buy(user_client, film.id)
        assert response.status_code == 201, response.json()

    response = buy(user_client, films[2].id)
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "throttled"
    assert 0 < body["retry_after"] <= 60
    assert response["Retry-After"] == str(body["retry_after"])
    assert not Purchase.objects.filter(vod_id=films[2].id).exists()
    assert Purchase.objects.count() == 2


# --- the outbox worker outlives a database outage -------------------------------------
class Runaway(BaseException):
    """Raised past the worker's `except Exception` when it will not stop retrying."""


def _pending_event_after_a_purchase(user_client, monkeypatch) -> OutboxEvent:
    """Buy a film as a process that dies right after its commit: its PaymentApproved
    is stored, pending, never dispatched; then make it due."""
    with monkeypatch.context() as patch:
        patch.setattr(events, "_dispatch_fresh", lambda row: None)
        assert buy(user_client, make_vod().id).status_code == 201
    OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    event = OutboxEvent.objects.get(type="PaymentApproved")
    assert event.status == OutboxEvent.Status.PENDING
    return event


def _run_worker_through_an_outage(monkeypatch, *, interval: str) -> tuple[list[float], int]:
    real = events.run_worker_pass
    calls = 0

    def flaky(**kwargs):
        nonlocal calls
        calls += 1
        if calls > 50:
            raise Runaway("the worker never got past the outage")
        if calls <= 2:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    waits: list[float] = []
    monkeypatch.setattr(events, "run_worker_pass", flaky)
    monkeypatch.setattr(outbox_worker, "pause", lambda stop, seconds: waits.append(seconds))
    call_command("outbox_worker", "--until-idle", "--interval", interval)
    return waits, calls


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("interval", ["0", "0.5"])
def test_outbox_worker_outlives_a_database_outage_and_delivers(user_client, monkeypatch, interval):
    event = _pending_event_after_a_purchase(user_client, monkeypatch)
    assert user_client.get("/api/mileage/").json()["balance"] == 0

    waits, calls = _run_worker_through_an_outage(monkeypatch, interval=interval)

    assert calls >= 3
    assert len(waits) == 2, waits  # one wait per failed pass, none once it works
    assert 0 < waits[0] < waits[1], f"no growing backoff with --interval {interval}: {waits}"
    event.refresh_from_db()
    assert event.status == OutboxEvent.Status.DELIVERED
    assert not OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING).exists()
    assert user_client.get("/api/mileage/").json()["balance"] == settings.MILEAGE_EARN_PER_PURCHASE
