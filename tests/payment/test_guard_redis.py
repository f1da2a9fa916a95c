"""With Redis as the cache, two processes share one breaker (real Redis, no mock)."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.core.cache import cache

from payment.guard import CircuitBreaker, GuardRefused
from tests.conftest import REDIS_URL, require_redis
from tests.payment.test_guard import CONFIG as GUARD_TEST_CONFIG
from vodstore.cache import count

ROOT = Path(__file__).resolve().parents[2]

# The unit tests' thresholds, with a longer open state and a single trial call.
CONFIG = dataclasses.replace(GUARD_TEST_CONFIG, open_seconds=30.0, half_open_calls=1)

# What the other process runs: trip the breaker with four failures, print its state.
OTHER_PROCESS = """
import django, json
django.setup()
from payment.guard import CircuitBreaker, GuardConfig
breaker = CircuitBreaker(GuardConfig(**json.loads(CONFIG)))
for _ in range(4):
    breaker.record(breaker.acquire(), failed=True, seconds=0.01)
print(breaker.status().state)
"""


@pytest.fixture(autouse=True)
def _redis():
    require_redis()


def test_two_processes_see_one_breaker(redis_cache):
    breaker = CircuitBreaker(CONFIG)
    assert breaker.status().state == "closed"

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "vodstore.test_settings",
        "CACHE_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": redis_cache,
        "CONFIG": json.dumps(CONFIG.__dict__),
    }
    other = subprocess.run(  # noqa: S603 - our own code
        [
            sys.executable,
            "-c",
            OTHER_PROCESS.replace("CONFIG)", "__import__('os').environ['CONFIG'])"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == "open"

    # This process never saw a failure, yet refuses: the state is shared.
    status = breaker.status()
    assert status.state == "open" and 0 < status.retry_after <= 30
    with pytest.raises(GuardRefused):
        breaker.acquire()


def test_a_transition_happens_once_however_many_workers_race(redis_cache):
    breakers = [CircuitBreaker(CONFIG) for _ in range(4)]
    permits = [b.acquire() for b in breakers]
    for breaker, permit in zip(breakers, permits, strict=True):
        breaker.record(permit, failed=True, seconds=0.01)
    assert all(b.status().state == "open" for b in breakers)
    assert breakers[0].status().epoch == 1  # opened once, not once per worker


def test_our_redis_backend_reuses_one_client_and_works(redis_cache):
    client = cache._cache.get_client()
    assert cache._cache.get_client() is client
    cache.set("k", 41)
    assert cache.incr("k") == 42
    assert cache.get_many(["k", "missing"]) == {"k": 42}
    assert cache.add("k", 0) is False
    cache.delete("k")
    assert cache.get("k") is None


def test_a_redis_cache_url_selects_our_backend():
    env = {**os.environ, "CACHE_URL": REDIS_URL, "DJANGO_SETTINGS_MODULE": "vodstore.test_settings"}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.CACHES['default']['BACKEND'])",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "vodstore.cache.RedisCache"


def test_a_counter_on_redis_counts_expires_and_reads_back(redis_cache):
    assert [count("hits", 30) for _ in range(3)] == [1, 2, 3]
    assert cache.get("hits") == 3  # what the breaker's window reads with get_many
    ttl = redis.Redis.from_url(REDIS_URL).ttl(cache.make_and_validate_key("hits"))
    assert 0 < ttl <= 30  # set by the first count, not renewed by the others


def test_a_counter_in_local_memory_counts_too():
    assert [count("hits", 30) for _ in range(3)] == [1, 2, 3]
