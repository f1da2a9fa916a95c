"""Shared fixtures: users, API clients, films."""

import itertools
import os
import uuid

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.cache import cache, caches
from django.db import DEFAULT_DB_ALIAS
from django.test import override_settings
from rest_framework.test import APIClient

from catalog import cache as catalog_cache
from catalog import search
from catalog.models import Vod
from payment.gateway import (
    Authorization,
    GatewayDeclined,
    GatewayError,
    GatewayRejected,
    OperationRecord,
    use_gateway,
)
from payment.guard import reset_guard
from scripts import books

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, and `catalog.search`'s one question per process (is there a
    title index?) asked now, so that no test's query count depends on running first."""
    with django_db_blocker.unblock():
        search.indexed(DEFAULT_DB_ALIAS)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def make_user(username: str | None = None, **extra) -> User:
    username = username or f"user{next(_counter)}"
    return User.objects.create_user(username=username, password="s3cret-pass-123", **extra)


@pytest.fixture
def user(db) -> User:
    return make_user("alice")


@pytest.fixture
def other_user(db) -> User:
    return make_user("bob")


@pytest.fixture
def user_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def catalog_staff(db) -> User:
    staff = make_user("curator", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="add_vod"))
    return staff


def make_vod(**fields) -> Vod:
    n = next(_counter)
    defaults = {
        "title": f"Film {n}",
        "synopsis": "A film.",
        "genre": "drama",
        "release_year": 2000 + n % 25,
        "runtime_minutes": 100,
        "price": 5000,
    }
    return Vod.objects.create(**{**defaults, **fields})


@pytest.fixture
def vod(db) -> Vod:
    return make_vod(title="The Harbor", price=4500)


class FakeGateway:
    """A payment gateway that answers at once, honours idempotency keys as a processor
    does, and remembers every call that moved money."""

    name = "fake"

    def __init__(self) -> None:
        self.charges: list[tuple[str, int]] = []
        self.captures: list[str] = []
        self.voids: list[str] = []
        self.refunds: list[str] = []
        self.decline = False
        self.fail = False
        self.lose_answers = False  # the operation happens, but its caller hears an error
        self.attempts = 0  # every authorize call, whatever its outcome
        self.operations: dict[str, OperationRecord] = {}
        self._n = itertools.count(1)

    def _replayed(self, key: str) -> OperationRecord | None:
        if self.fail:
            raise GatewayError("gateway down")
        return self.operations.get(key)

    def _record(self, key: str, kind: str, reference: str, amount: int) -> None:
        self.operations[key] = OperationRecord(key, kind, "succeeded", reference, amount)
        if self.lose_answers:
            raise GatewayError("answer lost")

    def authorize(self, *, amount: int, idempotency_key: str) -> Authorization:
        self.attempts += 1
        if (done := self._replayed(idempotency_key)) is not None:
            return Authorization(reference=done.reference, amount=done.amount)
        if self.decline:
            raise GatewayDeclined("card refused")
        reference = f"fake_{next(self._n)}"
        self.charges.append((reference, amount))
        self._record(idempotency_key, "authorize", reference, amount)
        return Authorization(reference=reference, amount=amount)

    def capture(self, *, reference: str, amount: int, idempotency_key: str) -> None:
        if self._replayed(idempotency_key) is None:
            if reference in self.voids:
                raise GatewayRejected("voided")
            self.captures.append(reference)
            self._record(idempotency_key, "capture", reference, amount)

    def void(self, *, reference: str, idempotency_key: str) -> None:
        if self._replayed(idempotency_key) is None:
            if reference in self.captures:
                raise GatewayRejected("captured")
            self.voids.append(reference)
            self._record(idempotency_key, "void", reference, 0)

    def refund(self, *, reference: str, amount: int, idempotency_key: str) -> None:
        if self._replayed(idempotency_key) is None:
            self.refunds.append(reference)
            self._record(idempotency_key, "refund", reference, amount)

    def lookup(self, *, idempotency_key: str) -> OperationRecord | None:
        return self._replayed(idempotency_key)

    def ledger(self) -> dict:
        return {
            "charges": [
                {
                    "reference": reference,
                    "amount": amount,
                    "status": "voided"
                    if reference in self.voids
                    else "captured"
                    if reference in self.captures
                    else "authorized",
                    "refunded": amount * self.refunds.count(reference),
                    "refunds": self.refunds.count(reference),
                    "created_at": 0.0,
                }
                for reference, amount in self.charges
            ]
        }

    @property
    def kept_charges(self) -> list[str]:
        """Charges neither voided nor refunded: money actually taken."""
        return [ref for ref, _ in self.charges if ref not in self.voids + self.refunds]


@pytest.fixture(autouse=True)
def gateway():
    with use_gateway(FakeGateway()) as fake:
        yield fake


@pytest.fixture(autouse=True)
def fresh_guard_and_cache():
    """Each test starts with a closed breaker, an empty bulkhead and no throttle history."""
    cache.clear()
    caches["fragments"].clear()
    caches["rendered"].clear()
    reset_guard()
    yield
    cache.clear()
    reset_guard()


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def require_redis() -> None:
    """Skip the test where Redis is unreachable; under CI=true that is a failure."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is unreachable, and CI must run this test")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable")


@pytest.fixture
def redis_cache():
    """The store's Redis cache backend on a real Redis, under a key prefix of its own
    (yielded); its keys are deleted afterwards."""
    require_redis()
    prefix = f"test-{uuid.uuid4().hex}"
    caches = {
        "default": {
            "BACKEND": "vodstore.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        },
        "fragments": settings.CACHES["fragments"],
        "rendered": settings.CACHES["rendered"],
    }
    with override_settings(CACHES=caches):
        yield prefix
        catalog_cache.near.stop()
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run on-commit work (event dispatch) as a real commit would, inside `db` tests."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def assert_books_balance() -> None:
    """The drills' books (`scripts.books`): every balance equals the sum of its ledger;
    every purchase has the entries its method and state call for, of the sizes the
    settings give; every paid purchase has its approved payment, no cancelled one keeps it."""
    assert books.problems() == []


def use_media_folder(settings, folder, *, delivery: str) -> None:
    """The media storage in `folder` (a test's own), its bytes sent as `delivery` says
    (`MEDIA_DELIVERY`)."""
    settings.MEDIA_ROOT = folder
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": folder},
        },
    }
    settings.MEDIA_DELIVERY = delivery
