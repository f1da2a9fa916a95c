"""Watching: the feature plays for its owner only, through short-lived URLs signed for
that user and film that answer HTTP Range requests; anyone else gets no bytes. Trailers
play for everyone. The three ways the bytes leave (Django, nginx's X-Accel-Redirect, a
redirect to storage), the Watch page and the film page's trailer."""

import random
import re
import time
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.core.signing import BadSignature, SignatureExpired, TimestampSigner
from django.test import Client
from django.urls import reverse

from catalog.models import VodMedia
from purchase.models import Purchase
from purchase.services import purchase_cancel, purchase_create
from tests.conftest import make_user, make_vod, use_media_folder
from vodstore import streaming
from vodstore.streaming import RangeNotSatisfiable, byte_range, media_token, read_media_token

pytestmark = pytest.mark.django_db

SIZE = 10_000
CONTENT = random.Random(20261201).randbytes(SIZE)
TRAILER = random.Random(7).randbytes(3_000)


class SigningStorage(FileSystemStorage):
    """A storage whose URLs are signed and expire, as S3's are (django-storages)."""

    def url(self, name, expire=None):
        return f"https://media.example.test/{name}?expires-in={expire}"


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    """A media storage of the test's own, bytes served by Django."""
    use_media_folder(settings, tmp_path, delivery="django")
    settings.MEDIA_URL_TTL_SECONDS = 300
    return tmp_path


def add_media(vod, kind: str, content: bytes, name: str = "clip.mp4") -> VodMedia:
    return VodMedia.objects.create(
        vod=vod,
        kind=kind,
        file=ContentFile(content, name=name),
        content_type="video/mp4",
        duration_seconds=180.0,
        size_bytes=len(content),
        width=640,
        height=360,
        codec="h264",
    )


@pytest.fixture
def film(db):
    vod = make_vod(title="The Harbor", price=4500)
    add_media(vod, "feature", CONTENT)
    return vod


@pytest.fixture
def owner(user, film, committed):
    with committed():
        purchase_create(user_id=user.id, vod_id=film.id)
    return user


@pytest.fixture
def owner_client(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


def video_url(vod, *, user, kind: str = "feature", vod_id: int | None = None) -> str:
    token = media_token(user_id=user.id, vod_id=vod_id or vod.id, kind=kind)
    return reverse("purchase:watch-video", args=[vod.id]) + f"?token={token}"


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def get_range(client, url: str, header: str | None = None, **extra):
    if header is not None:
        extra["HTTP_RANGE"] = header
    return client.get(url, **extra)


# ---- Tokens ------------------------------------------------------------------------------


def test_a_token_says_who_may_fetch_which_video():
    token = media_token(user_id=7, vod_id=42, kind="feature")

    assert read_media_token(token) == (7, 42, "feature")


def test_a_token_expires_after_the_ttl(settings, monkeypatch):
    settings.MEDIA_URL_TTL_SECONDS = 300
    now = time.time()
    with monkeypatch.context() as frozen:
        frozen.setattr(time, "time", lambda: now - 301)
        old = media_token(user_id=7, vod_id=42, kind="feature")
        frozen.setattr(time, "time", lambda: now - 299)
        recent = media_token(user_id=7, vod_id=42, kind="feature")

    with pytest.raises(SignatureExpired):
        read_media_token(old)
    assert read_media_token(recent) == (7, 42, "feature")


@pytest.mark.parametrize(
    "forged",
    [
        "",
        "7.42.feature",
        # another purpose's signature (default salt), another film, a changed signature
        TimestampSigner().sign("7.42.feature"),
        media_token(user_id=7, vod_id=42, kind="feature").replace("7.42.", "7.43.", 1),
        media_token(user_id=7, vod_id=42, kind="feature")[:-2] + "xx",
    ],
)
def test_a_forged_token_is_refused(forged):
    with pytest.raises(BadSignature):
        read_media_token(forged)


def test_a_token_from_another_secret_key_is_refused(settings):
    settings.SECRET_KEY = "another-" * 10
    token = media_token(user_id=7, vod_id=42, kind="feature")
    settings.SECRET_KEY = "the-real-" * 10

    with pytest.raises(BadSignature):
        read_media_token(token)


# ---- Range: the header alone -------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-1023", (0, 1023)),
        ("bytes=1000-1999", (1000, 1999)),
        ("bytes=9000-", (9000, 9999)),
        ("bytes=-500", (9500, 9999)),
        ("bytes=9990-20000", (9990, 9999)),  # past the end: up to the last byte
        ("bytes=-20000", (0, 9999)),  # a suffix longer than the file: all of it
        ("bytes=0-0", (0, 0)),
        ("bytes=9999-9999", (9999, 9999)),
        ("Bytes=0-9", (0, 9)),  # the unit is case-insensitive
        ("bytes=0-9, ", (0, 9)),  # empty list elements mean nothing
        ("bytes=0-" + "9" * 5000, (0, 9999)),  # too long for int(): still "to the end"
        ("", None),
        ("items=0-9", None),  # a unit not understood: ignored (MUST)
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
    ],
)
def test_byte_range(header, expected):
    assert byte_range(header, SIZE) == expected


@pytest.mark.parametrize(
    "header",
    [
        "bytes=10000-",  # starts at the end
        "bytes=20000-30000",
        "bytes=-0",  # an empty suffix
        "bytes=5-2",  # last before first: invalid
        "bytes=abc",
        "bytes=",
        "bytes=--5",
        "bytes=1-2-3",
        "bytes=0x10-20",
        "bytes=\u0661-\u0662",  # digits, but not ASCII ones
        "bytes=" + "9" * 5000 + "-",
    ],
)
def test_byte_range_not_satisfiable(header):
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, SIZE)


# ---- Range: served by Django -------------------------------------------------------------


def test_without_range_the_whole_file_comes_streamed(owner_client, owner, film):
    response = owner_client.get(video_url(film, user=owner))

    assert response.status_code == 200
    assert response.streaming  # read a chunk at a time, never whole in memory
    assert body(response) == CONTENT
    assert response["Content-Length"] == str(SIZE)
    assert response["Content-Type"] == "video/mp4"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Cache-Control"] == "private, max-age=300"
    assert not response.has_header("Content-Range")


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-1023", 0, 1023),  # the first bytes
        ("bytes=4000-4999", 4000, 4999),  # the middle
        ("bytes=-500", 9500, 9999),  # the last 500 (suffix)
        ("bytes=8192-", 8192, 9999),  # open-ended
        ("bytes=9990-20000", 9990, 9999),
    ],
)
def test_a_range_gets_206_with_exactly_its_bytes(owner_client, owner, film, header, first, last):
    response = get_range(owner_client, video_url(film, user=owner), header)

    assert response.status_code == 206
    assert body(response) == CONTENT[first : last + 1]
    assert response["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "video/mp4"


@pytest.mark.parametrize("header", ["bytes=10000-", "bytes=-0", "bytes=5-2", "bytes=abc"])
def test_an_unsatisfiable_or_malformed_range_gets_416_and_no_body(
    owner_client, owner, film, header
):
    response = get_range(owner_client, video_url(film, user=owner), header)

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{SIZE}"
    assert body(response) == b""
    assert response["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-9"])
def test_several_ranges_or_another_unit_get_the_whole_file(owner_client, owner, film, header):
    response = get_range(owner_client, video_url(film, user=owner), header)

    assert response.status_code == 200
    assert body(response) == CONTENT


def test_if_range_without_validators_gets_the_whole_file(owner_client, owner, film):
    # no ETag or Last-Modified is sent, so no If-Range can match (RFC 9110 13.1.5)
    response = get_range(
        owner_client, video_url(film, user=owner), "bytes=0-9", HTTP_IF_RANGE='"x"'
    )

    assert response.status_code == 200
    assert body(response) == CONTENT


def test_head_describes_the_file_without_a_body(owner_client, owner, film):
    response = owner_client.head(video_url(film, user=owner))
    ranged = owner_client.head(video_url(film, user=owner), HTTP_RANGE="bytes=0-9")

    assert response.status_code == 200
    assert response["Content-Length"] == str(SIZE)
    assert response["Accept-Ranges"] == "bytes" and response["Content-Type"] == "video/mp4"
    assert body(response) == b""
    # range handling is defined for GET only (RFC 9110 14.2)
    assert ranged.status_code == 200 and ranged["Content-Length"] == str(SIZE)


def test_a_big_file_goes_out_in_bounded_chunks_and_is_closed(user, client, committed):
    big = random.Random(3).randbytes(3 * streaming.CHUNK_BYTES + 50)
    vod = make_vod()
    add_media(vod, "feature", big)
    with committed():
        purchase_create(user_id=user.id, vod_id=vod.id)
    client.force_login(user)

    response = get_range(client, video_url(vod, user=user), "bytes=10-")
    readers = [
        closer.__self__
        for closer in response._resource_closers
        if isinstance(getattr(closer, "__self__", None), streaming._FileRange)
    ]
    assert len(readers) == 1 and not readers[0].stream.closed
    chunks = list(response.streaming_content)  # the test client closes the response after

    assert b"".join(chunks) == big[10:]
    assert len(chunks) == 4 and max(map(len, chunks)) == streaming.CHUNK_BYTES
    assert readers[0].stream.closed


def test_a_response_never_read_still_closes_its_file(user, client, film, owner):
    client.force_login(owner)
    response = client.get(video_url(film, user=owner))
    readers = [
        closer.__self__
        for closer in response._resource_closers
        if isinstance(getattr(closer, "__self__", None), streaming._FileRange)
    ]

    response.close()  # the client went away before the first byte

    assert readers[0].stream.closed


def test_a_file_missing_from_storage_is_a_404(owner_client, owner, film, media_root):
    for path in media_root.rglob("*.mp4"):
        path.unlink()

    response = owner_client.get(video_url(film, user=owner))

    assert response.status_code == 404


# ---- Only the owner gets bytes -----------------------------------------------------------


def assert_refused(response) -> None:
    """Refused: an empty 403, nothing of the film."""
    assert response.status_code == 403
    assert body(response) == b""
    assert not response.has_header("Content-Range")
    assert not response.has_header("X-Accel-Redirect")
    assert response["Cache-Control"] == "private, no-store"


def test_another_signed_in_user_with_the_owners_url_gets_nothing(owner, film, other_user):
    stranger = Client()
    stranger.force_login(other_user)

    assert_refused(get_range(stranger, video_url(film, user=owner), "bytes=0-1023"))


def test_a_user_who_does_not_own_the_film_gets_nothing_with_a_token_of_their_own(film, other_user):
    stranger = Client()
    stranger.force_login(other_user)

    assert_refused(stranger.get(video_url(film, user=other_user)))


def test_an_anonymous_visitor_with_the_owners_url_gets_nothing(client, owner, film):
    assert_refused(client.get(video_url(film, user=owner)))
    assert_refused(client.head(video_url(film, user=owner)))


def test_an_expired_url_gets_nothing(owner_client, owner, film, monkeypatch):
    signed_at = time.time() - 301  # the TTL is 300 s
    with monkeypatch.context() as frozen:
        frozen.setattr(time, "time", lambda: signed_at)
        url = video_url(film, user=owner)

    assert_refused(owner_client.get(url))


def test_a_forged_url_gets_nothing(owner_client, owner, film):
    url = video_url(film, user=owner)
    signed_elsewhere = TimestampSigner().sign(f"{owner.id}.{film.id}.feature")
    path = reverse("purchase:watch-video", args=[film.id])

    assert_refused(owner_client.get(url[:-3] + "abc"))
    assert_refused(owner_client.get(f"{path}?token={signed_elsewhere}"))
    assert_refused(owner_client.get(path))  # no token at all
    assert_refused(owner_client.get(f"{path}?token=junk"))


def test_a_token_for_another_film_or_kind_gets_nothing(owner_client, owner, film, committed):
    other = make_vod(title="Also Mine")
    add_media(other, "feature", b"other film")
    with committed():
        purchase_create(user_id=owner.id, vod_id=other.id)

    # the owner's own, valid token for the other film, on this film's address
    assert_refused(owner_client.get(video_url(film, user=owner, vod_id=other.id)))
    # a token for the trailer is not one for the feature
    assert_refused(owner_client.get(video_url(film, user=owner, kind="trailer")))


def test_a_cancelled_purchase_gets_nothing_even_with_a_fresh_url(
    owner_client, owner, film, committed
):
    url = video_url(film, user=owner)
    assert owner_client.get(url).status_code == 200
    purchase = Purchase.objects.get(user=owner, vod_id=film.id)
    with committed():
        purchase_cancel(user_id=owner.id, purchase_id=purchase.id)

    assert_refused(owner_client.get(url))


def test_non_owners_cannot_tell_whether_a_film_has_a_video(other_user, owner, film):
    """The refusal comes before the film's media is looked up: it is the same for a film
    with a video and one without."""
    bare = make_vod(title="No Video Yet")
    stranger = Client()
    stranger.force_login(other_user)

    with_video = stranger.get(video_url(film, user=owner))
    without = stranger.get(video_url(bare, user=owner))

    assert_refused(with_video)
    assert_refused(without)
    assert dict(with_video.headers) == dict(without.headers)


def test_an_owner_whose_film_has_no_video_gets_a_404(user, client, committed):
    vod = make_vod(title="Not Yet")
    with committed():
        purchase_create(user_id=user.id, vod_id=vod.id)
    client.force_login(user)

    assert client.get(video_url(vod, user=user)).status_code == 404


def test_an_owner_keeps_playing_a_film_retired_from_sale(owner_client, owner, film):
    film.is_active = False
    film.save()

    response = owner_client.get(video_url(film, user=owner), HTTP_RANGE="bytes=0-99")

    assert response.status_code == 206 and body(response) == CONTENT[:100]


def test_the_video_takes_get_and_head_only(owner_client, owner, film):
    assert owner_client.post(video_url(film, user=owner)).status_code == 405


def test_the_video_view_runs_a_fixed_number_of_queries(
    owner_client, owner, film, client, other_user, django_assert_num_queries
):
    url = video_url(film, user=owner)
    # the session with its user, the paid purchase, its feature (on sale or not: owners
    # keep films)
    with django_assert_num_queries(3):
        assert owner_client.get(url, HTTP_RANGE="bytes=0-99").status_code == 206
    # a bad token is refused before the session is even read
    with django_assert_num_queries(0):
        assert client.get(url[:-3] + "abc").status_code == 403
    with django_assert_num_queries(0):
        assert owner_client.get(url[:-3] + "abc").status_code == 403
    # another user: the session with its user, nothing of the film
    stranger = Client()
    stranger.force_login(other_user)
    with django_assert_num_queries(1):
        assert stranger.get(url).status_code == 403


# ---- The other ways bytes leave: nginx, object storage -----------------------------------


def test_accel_hands_the_file_to_nginx_with_no_body(owner_client, owner, film, settings):
    settings.MEDIA_DELIVERY = "accel"
    name = VodMedia.objects.get(vod=film, kind="feature").file.name

    response = get_range(owner_client, video_url(film, user=owner), "bytes=0-1023")

    assert response.status_code == 200  # nginx makes it a 206 from the Range it still has
    assert response["X-Accel-Redirect"] == f"/protected-media/{name}"
    assert body(response) == b""
    assert response["Content-Type"] == "video/mp4"
    assert response["Cache-Control"] == "private, max-age=300"


def test_accel_percent_encodes_the_name_and_uses_the_prefix(user, client, settings, committed):
    settings.MEDIA_DELIVERY = "accel"
    settings.MEDIA_ACCEL_PREFIX = "/internal/films/"
    vod = make_vod()
    name = add_media(vod, "feature", b"x", name="하버 1.mp4").file.name
    with committed():
        purchase_create(user_id=user.id, vod_id=vod.id)
    client.force_login(user)

    redirect = client.get(video_url(vod, user=user))["X-Accel-Redirect"]

    assert redirect.startswith("/internal/films/vods/")
    assert redirect.isascii() and unquote(redirect) == f"/internal/films/{name}"


def test_accel_refuses_non_owners_before_any_redirect(client, owner, film, settings):
    settings.MEDIA_DELIVERY = "accel"

    assert_refused(client.get(video_url(film, user=owner)))


def test_storage_mode_redirects_to_a_short_lived_storage_url(owner_client, owner, film, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {
            "BACKEND": "tests.test_streaming.SigningStorage",
            "OPTIONS": {"location": settings.MEDIA_ROOT},
        },
    }
    settings.MEDIA_DELIVERY = "storage"
    name = VodMedia.objects.get(vod=film, kind="feature").file.name

    response = owner_client.get(video_url(film, user=owner))

    assert response.status_code == 302
    assert response["Location"] == f"https://media.example.test/{name}?expires-in=300"
    assert response["Cache-Control"] == "private, no-store"


def test_storage_mode_refuses_non_owners_without_a_url(client, owner, film, settings):
    settings.MEDIA_DELIVERY = "storage"

    response = client.get(video_url(film, user=owner))

    assert_refused(response)
    assert not response.has_header("Location")


# ---- Trailers: anyone ----------------------------------------------------------------------


@pytest.fixture
def with_trailer(film):
    add_media(film, "trailer", TRAILER, name="trailer.mp4")
    return film


def test_anyone_plays_a_trailer(client, with_trailer):
    url = reverse("catalog:trailer", args=[with_trailer.id])

    whole = client.get(url)
    ranged = client.get(url, HTTP_RANGE="bytes=100-199")
    head = client.head(url)

    assert whole.status_code == 200 and body(whole) == TRAILER
    assert whole["Content-Type"] == "video/mp4" and whole["Accept-Ranges"] == "bytes"
    assert ranged.status_code == 206 and body(ranged) == TRAILER[100:200]
    assert ranged["Content-Range"] == f"bytes 100-199/{len(TRAILER)}"
    assert head.status_code == 200 and body(head) == b""
    assert head["Content-Length"] == str(len(TRAILER))


def test_the_trailer_of_a_film_off_sale_is_a_404(client, with_trailer):
    with_trailer.is_active = False
    with_trailer.save()

    assert client.get(reverse("catalog:trailer", args=[with_trailer.id])).status_code == 404


def test_a_film_without_a_trailer_or_no_film_is_a_404(client, film):
    assert client.get(reverse("catalog:trailer", args=[film.id])).status_code == 404
    assert client.get(reverse("catalog:trailer", args=[10**17])).status_code == 404


def test_a_trailer_through_nginx_is_an_accel_redirect(client, with_trailer, settings):
    settings.MEDIA_DELIVERY = "accel"

    response = client.get(reverse("catalog:trailer", args=[with_trailer.id]))

    assert response["X-Accel-Redirect"].endswith("/trailer.mp4") and body(response) == b""


# ---- The Watch page --------------------------------------------------------------------------


def video_tag(response) -> str:
    match = re.search(r"<video\b[^>]*>", response.content.decode())
    assert match, "no <video> on the page"
    return match.group(0)


def attribute(tag: str, name: str) -> str:
    match = re.search(rf'\s{name}="([^"]*)"', tag)
    assert match, f"no {name} in {tag}"
    return match.group(1).replace("&amp;", "&")


def test_the_owner_gets_a_player_with_a_freshly_signed_address(owner_client, owner, film):
    response = owner_client.get(reverse("purchase:watch", args=[film.id]))

    tag = video_tag(response)
    assert all(word in tag for word in (" controls", 'preload="metadata"', " playsinline"))
    src = attribute(tag, "src")
    assert src.startswith(reverse("purchase:watch-video", args=[film.id]) + "?token=")
    token = parse_qs(urlsplit(src).query)["token"][0]
    assert read_media_token(token) == (owner.id, film.id, "feature")
    assert "#t=" not in src  # nothing watched yet
    # the address plays, with Range
    played = owner_client.get(src, HTTP_RANGE="bytes=0-99")
    assert played.status_code == 206 and body(played) == CONTENT[:100]
    # the script saves progress through the API and renews the address
    assert attribute(tag, "data-progress-url") == f"/api/progress/{film.id}/"
    assert attribute(tag, "data-source-url") == reverse("purchase:watch-source", args=[film.id])
    assert attribute(tag, "data-csrf-token")
    page = response.content.decode()
    assert re.search(r'<script src="[^"]*/js/watch\.js" defer></script>', page)
    assert "<script>" not in page and " onclick=" not in page  # CSP: scripts from files only
    assert "This demo store streams no video" not in page
    assert "Video player: The Harbor" in page


def test_each_visit_signs_a_new_address(owner_client, film, monkeypatch):
    first = attribute(video_tag(owner_client.get(reverse("purchase:watch", args=[film.id]))), "src")
    later = time.time() + 5
    monkeypatch.setattr(time, "time", lambda: later)
    second = attribute(
        video_tag(owner_client.get(reverse("purchase:watch", args=[film.id]))), "src"
    )

    assert first != second


def test_the_player_starts_where_the_owner_left_off(owner_client, film):
    saved = owner_client.put(
        f"/api/progress/{film.id}/", {"position_seconds": 42.5}, content_type="application/json"
    )
    assert saved.status_code == 200

    response = owner_client.get(reverse("purchase:watch", args=[film.id]))

    tag = video_tag(response)
    assert attribute(tag, "src").endswith("#t=42.5")
    assert attribute(tag, "data-start") == "42.5"
    assert "Continuing where you left off, at 0:42." in response.content.decode()


def test_a_film_seen_to_the_end_starts_again(owner_client, film):
    owner_client.put(
        f"/api/progress/{film.id}/", {"position_seconds": 179.0}, content_type="application/json"
    )

    tag = video_tag(owner_client.get(reverse("purchase:watch", args=[film.id])))

    assert "#t=" not in attribute(tag, "src") and attribute(tag, "data-start") == "0"


def test_the_poster_is_the_films(owner, film):
    film.poster_url = "https://img.example.test/harbor.jpg"
    film.save()
    client = Client()
    client.force_login(owner)

    tag = video_tag(client.get(reverse("purchase:watch", args=[film.id])))

    assert attribute(tag, "poster") == "https://img.example.test/harbor.jpg"


def test_a_film_without_a_video_says_so(user, client, committed):
    vod = make_vod(title="Coming Soon")
    with committed():
        purchase_create(user_id=user.id, vod_id=vod.id)
    client.force_login(user)

    response = client.get(reverse("purchase:watch", args=[vod.id]))

    page = response.content.decode()
    assert response.status_code == 200 and "<video" not in page
    assert "This film has no video yet." in page
    assert "watch.js" not in page and "token=" not in page


def test_others_are_sent_away_from_the_watch_page_with_no_address(film, other_user, client):
    stranger = Client()
    stranger.force_login(other_user)

    signed_in = stranger.get(reverse("purchase:watch", args=[film.id]))
    anonymous = client.get(reverse("purchase:watch", args=[film.id]))

    assert signed_in.status_code == 302 and signed_in["Location"] == film_url(film)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    assert b"token=" not in signed_in.content + anonymous.content


def test_the_watch_page_runs_a_fixed_number_of_queries(
    owner_client, film, django_assert_num_queries
):
    # the session with its user, the purchase, the film, its feature, the position, the
    # points
    with django_assert_num_queries(6):
        assert owner_client.get(reverse("purchase:watch", args=[film.id])).status_code == 200


def test_the_owner_gets_a_new_address_when_the_old_one_ran_out(owner_client, owner, film, client):
    source = reverse("purchase:watch-source", args=[film.id])

    response = owner_client.get(source)

    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    fresh = response.json()
    assert fresh["expires_in"] == 300
    token = parse_qs(urlsplit(fresh["src"]).query)["token"][0]
    assert read_media_token(token) == (owner.id, film.id, "feature")
    assert client.get(source).status_code == 404
    stranger = Client()
    stranger.force_login(make_user())
    assert stranger.get(source).status_code == 404


# ---- The film page's trailer ------------------------------------------------------------------


def film_url(vod) -> str:
    return reverse("catalog:detail", args=[vod.id])


def test_the_film_page_plays_the_trailer_for_anyone(client, with_trailer):
    response = client.get(film_url(with_trailer))

    tag = video_tag(response)
    assert all(word in tag for word in (" controls", 'preload="none"', " playsinline"))
    assert attribute(tag, "src") == reverse("catalog:trailer", args=[with_trailer.id])
    assert "Trailer" in response.content.decode()


def test_the_film_page_has_no_player_without_a_trailer(client, film):
    assert "<video" not in client.get(film_url(film)).content.decode()
