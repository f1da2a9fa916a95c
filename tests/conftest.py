"""Shared fixtures: users, API clients, films."""

import itertools

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from catalog.models import Vod

_counter = itertools.count(1)


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
