"""The production path of a film's bytes: a real nginx (Debian's) running the committed
server block (deploy/nginx/vodstore.conf) in front of the store, MEDIA_DELIVERY=accel.
The store decides who may watch and answers with X-Accel-Redirect; nginx sends the
file and answers the Range itself. nginx runs as a private process (its own
configuration, pid file and temporary folders, a free port on 127.0.0.1) and is stopped
by its process id. Without nginx these tests skip with the reason (`apt-get install
nginx`; .ci/run installs it); under CI=true they fail instead."""

import os
import random
import urllib.error
import urllib.request

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from catalog.models import VodMedia
from purchase.services import purchase_create
from scripts.nginx import PrivateNginx, nginx_binary
from tests.conftest import make_vod, use_media_folder
from tests.test_streaming import add_media
from vodstore.streaming import media_token

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024
CONTENT = random.Random(11).randbytes(3 * MIB + 17)
TRAILER = random.Random(12).randbytes(200_000)


def require_nginx() -> None:
    if nginx_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is not installed, and CI must run this test (.ci/run installs it)")
        pytest.skip("nginx is not installed (apt-get install nginx): X-Accel-Redirect untested")


@pytest.fixture
def media_root(tmp_path, settings):
    media = tmp_path / "media"
    media.mkdir()
    use_media_folder(settings, media, delivery="accel")
    settings.MEDIA_ACCEL_PREFIX = "/protected-media/"
    return media


@pytest.fixture
def nginx(live_server, media_root):
    require_nginx()
    # the live server listens on IPv4 (its "localhost" would be tried on ::1 first)
    upstream = f"127.0.0.1:{live_server.thread.port}"
    with PrivateNginx(upstream=upstream, media_root=media_root) as server:
        yield server


def fetch(url: str, *, method: str = "GET", **headers: str) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    name = django_settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


@pytest.fixture
def film(media_root):
    vod = make_vod(title="Through nginx")
    add_media(vod, "feature", CONTENT)
    return vod


def test_an_owner_gets_the_range_from_nginx(nginx, user, film):
    purchase_create(user_id=user.id, vod_id=film.id)
    token = media_token(user_id=user.id, vod_id=film.id, kind="feature")
    url = nginx.url + reverse("purchase:watch-video", args=[film.id]) + f"?token={token}"
    cookie = session_cookie(user)

    status, headers, body = fetch(url, Cookie=cookie, Range=f"bytes={MIB}-{2 * MIB - 1}")

    assert status == 206, nginx.error_log()
    assert body == CONTENT[MIB : 2 * MIB]
    assert headers["Content-Range"] == f"bytes {MIB}-{2 * MIB - 1}/{len(CONTENT)}"
    assert headers["Content-Length"] == str(MIB)
    assert headers["Content-Type"] == "video/mp4"
    assert headers["Cache-Control"] == "private, max-age=300"
    assert "X-Accel-Redirect" not in headers  # nginx keeps it to itself

    # the end of the file (suffix), the whole file, and nginx's own 416
    status, headers, body = fetch(url, Cookie=cookie, Range="bytes=-100")
    assert status == 206 and body == CONTENT[-100:]
    status, headers, body = fetch(url, Cookie=cookie)
    assert status == 200 and body == CONTENT and headers["Accept-Ranges"] == "bytes"
    status, headers, body = fetch(url, Cookie=cookie, Range=f"bytes={len(CONTENT)}-")
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(CONTENT)}"
    assert CONTENT[:64] not in body


def test_others_get_no_bytes_through_nginx(nginx, user, other_user, film):
    purchase_create(user_id=user.id, vod_id=film.id)
    token = media_token(user_id=user.id, vod_id=film.id, kind="feature")
    url = nginx.url + reverse("purchase:watch-video", args=[film.id]) + f"?token={token}"
    name = VodMedia.objects.get(vod=film, kind="feature").file.name

    refusals = {
        "another user": fetch(url, Cookie=session_cookie(other_user), Range="bytes=0-1023"),
        "anonymous": fetch(url, Range="bytes=0-1023"),
        "forged": fetch(url[:-3] + "abc", Cookie=session_cookie(user), Range="bytes=0-1023"),
    }
    for who, (status, headers, body) in refusals.items():
        assert status == 403, who
        assert body == b"", who
        assert "Content-Range" not in headers, who
    # the internal location cannot be asked for from outside, even knowing the name
    status, _, body = fetch(f"{nginx.url}/protected-media/{name}", Range="bytes=0-1023")
    assert status == 404 and CONTENT[:1024] not in body


def test_anyone_gets_a_trailer_through_nginx(nginx, film):
    add_media(film, "trailer", TRAILER, name="trailer.mp4")

    status, headers, body = fetch(
        nginx.url + reverse("catalog:trailer", args=[film.id]), Range="bytes=1000-1999"
    )

    assert status == 206 and body == TRAILER[1000:2000]
    assert headers["Content-Type"] == "video/mp4"
