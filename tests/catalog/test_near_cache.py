"""Each process's near copy of the catalog cache (`catalog.near`), on a real Redis: used
only while it hears of every change, from this process or another one."""

import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import cache as catalog_cache
from catalog.models import Vod
from catalog.near import NearCache
from catalog.selectors import vods_by_ids
from tests.conftest import REDIS_URL, make_vod
from vodstore.cache import RedisCache

ROOT = Path(__file__).resolve().parents[2]
near = catalog_cache.near


def eventually(check, seconds: float = 5.0):
    """Poll `check` until it is true; False if it never was within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def title_of(api_client, vod) -> str:
    return api_client.get(f"/api/vods/{vod.id}/").json()["title"]


def start_listening(api_client, vod) -> None:
    """Have this process listen, with the film's answer in its near copy."""
    title_of(api_client, vod)  # starts the listener
    assert eventually(near.listening), "the listener did not start"
    title_of(api_client, vod)  # read from Redis, kept near


@pytest.fixture
def listening(db, redis_cache, api_client, vod, monkeypatch):
    """This process listens, with no periodic reread in a test's time; yields the prefix."""
    monkeypatch.setattr(near, "resync_seconds", 60.0)
    start_listening(api_client, vod)
    return redis_cache


def test_a_near_hit_costs_no_round_trip_to_redis(listening, api_client, vod):
    with mock.patch.object(RedisCache, "get_many", autospec=True) as get_many:
        assert title_of(api_client, vod) == "The Harbor"
    get_many.assert_not_called()


def test_a_change_here_is_seen_here_at_once(listening, api_client, vod):
    vod.title = "Renamed Here"
    vod.save()
    assert title_of(api_client, vod) == "Renamed Here"  # no waiting for any message


def test_a_change_in_another_process_reaches_this_one(listening, api_client, vod):
    # The row changes without telling the cache: the near copy still answers...
    Vod.objects.filter(pk=vod.pk).update(title="Renamed Elsewhere")
    assert title_of(api_client, vod) == "The Harbor"
    # ...until another process announces a change (it only knows the cache).
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "vodstore.test_settings",
        "CACHE_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": listening,
        # (announcing a change opens a connection to run the after-commit part: any
        # database does; the test's own is not committed anyway)
        "DATABASE_URL": "sqlite://:memory:",
    }
    subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); "
         "from catalog.cache import catalog_changed; catalog_changed()"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    # The reread every 60 s cannot be what brings it: the message does.
    assert eventually(lambda: title_of(api_client, vod) == "Renamed Elsewhere")


def test_a_lost_message_is_made_good_by_the_periodic_reread(
    redis_cache, api_client, vod, monkeypatch
):
    monkeypatch.setattr(near, "resync_seconds", 0.2)
    start_listening(api_client, vod)
    Vod.objects.filter(pk=vod.pk).update(title="Renamed Quietly")
    catalog_cache.cache.set(catalog_cache.GENERATION_KEY, "new-without-a-message")
    assert eventually(lambda: title_of(api_client, vod) == "Renamed Quietly")


def test_a_process_that_lost_its_subscription_rereads_when_it_is_back(listening, api_client, vod):
    admin = redis.Redis.from_url(REDIS_URL)
    admin.client_kill_filter(_type="pubsub")
    # While the listener reconnects, a change comes that nobody announces to it.
    Vod.objects.filter(pk=vod.pk).update(title="Renamed While Deaf")
    catalog_cache.cache.set(catalog_cache.GENERATION_KEY, "changed-while-deaf")
    assert eventually(lambda: title_of(api_client, vod) == "Renamed While Deaf")
    # Back, it reread the generation (the periodic reread is a minute away).
    assert eventually(lambda: near.generation == "changed-while-deaf")


def test_while_redis_is_unreachable_the_copy_is_unused_and_the_database_answers(
    db, api_client, vod, settings
):
    settings.CACHES = {
        "default": {
            "BACKEND": "vodstore.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # the discard port: nothing listens
            "KEY_PREFIX": "unreachable",
        },
        "fragments": settings.CACHES["fragments"],
    }
    try:
        assert title_of(api_client, vod) == "The Harbor"
        Vod.objects.filter(pk=vod.pk).update(title="Renamed Without A Cache")
        assert title_of(api_client, vod) == "Renamed Without A Cache"
        assert not near.listening()
    finally:
        near.stop()


# --- the copy itself ----------------------------------------------------------------------


def copy(max_entries: int = 3) -> NearCache:
    near_copy = NearCache(read_generation=lambda: "g1", max_entries=max_entries, resync_seconds=5)
    near_copy._take("g1")  # as if listening
    return near_copy


def test_an_entry_read_under_another_generation_is_not_kept():
    near_copy = copy()
    near_copy.put("a", "g0", b"old")
    assert near_copy.get("a") is None
    near_copy.put("a", "g1", b"new")
    assert near_copy.get("a") == (b"new", "g1")


def test_a_new_generation_turns_every_entry_into_a_miss():
    near_copy = copy()
    near_copy.put("a", "g1", b"x")
    near_copy._take("g2")
    assert near_copy.get("a") is None


def test_a_deaf_copy_is_never_used():
    near_copy = copy()
    near_copy.put("a", "g1", b"x")
    near_copy._take(None)
    assert near_copy.get("a") is None
    near_copy.put("b", None, b"y")
    assert near_copy.get("b") is None


def test_the_copy_keeps_at_most_its_size_forgetting_the_oldest():
    near_copy = copy(max_entries=2)
    for key in "abc":
        near_copy.put(key, "g1", key.encode())
    assert [near_copy.get(k) for k in "abc"] == [None, (b"b", "g1"), (b"c", "g1")]


# --- films as other apps' pages show them (a library) ----------------------------------


def test_a_librarys_films_come_from_the_near_copy(listening, vod):

    other = make_vod(title="The Quay")
    assert {v.title for v in vods_by_ids(vod_ids=[vod.id, other.id]).values()} == {
        "The Harbor",
        "The Quay",
    }
    with CaptureQueriesContext(connection) as seen:
        again = vods_by_ids(vod_ids=[vod.id, other.id])
    assert seen.captured_queries == []
    assert again[vod.id].title == "The Harbor"


def test_a_renamed_film_shows_in_a_library_at_once(listening, vod):
    vods_by_ids(vod_ids=[vod.id])
    vod.title = "Renamed Here"
    vod.save()
    assert vods_by_ids(vod_ids=[vod.id])[vod.id].title == "Renamed Here"


def test_without_a_listener_every_library_reads_the_database(db, vod):

    vods_by_ids(vod_ids=[vod.id])
    with CaptureQueriesContext(connection) as seen:
        assert vods_by_ids(vod_ids=[vod.id])[vod.id].title == "The Harbor"
    assert len(seen.captured_queries) == 1
