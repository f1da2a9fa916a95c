"""Films' media: the demo clips, the commands that make and attach them, `vod_media`, the
media storage and the admin. Clips here last a second or two, so encoding stays quick."""

import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import av
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from catalog.demo import SEED_TITLES
from catalog.media import (
    MediaInfo,
    NotAVideo,
    media_probe,
    printable,
    render_clip,
    timecode,
    vod_media_generate,
)
from catalog.models import Vod, VodMedia, media_storage
from catalog.selectors import MediaFile, vod_media
from tests.conftest import make_vod

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def media_root(tmp_path, settings):
    """The "media" storage in a directory of this test's own."""
    root = tmp_path / "media"
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": root},
        },
    }
    return root


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A real 1.5 s clip, made once for the tests that upload or attach one."""
    path = tmp_path_factory.mktemp("clip") / "harbor.mp4"
    render_clip(path, title="The Harbor", label="trailer", genre="drama", seconds=1.5)
    return path


def make_media(*args: str, **options: object) -> str:
    out = io.StringIO()
    options.setdefault("feature_seconds", 2)
    options.setdefault("trailer_seconds", 1)
    call_command("make_demo_media", *args, stdout=out, **options)
    return out.getvalue()


def top_level_boxes(path: Path) -> list[str]:
    data, boxes, offset = path.read_bytes(), [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes.append(kind.decode())
        offset += size
    return boxes


# --- The clip -------------------------------------------------------------------------


def test_a_clip_is_an_h264_aac_mp4_of_the_requested_length_that_browsers_can_stream(tmp_path):
    path = tmp_path / "clip.mp4"

    info = render_clip(path, title="Alive!", label="feature", genre="horror", seconds=2)

    assert info == MediaInfo(
        content_type="video/mp4",
        duration_seconds=pytest.approx(2.0, abs=0.1),
        size_bytes=path.stat().st_size,
        width=640,
        height=360,
        codec="h264/aac",
    )
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert video.codec_context.profile == "Main"
        assert video.codec_context.pix_fmt == "yuv420p"
        assert audio.codec_context.name == "aac"
        assert audio.rate == 48_000
        frames = list(container.decode(video=0))
    assert len(frames) == 2 * 12
    # +faststart: the index comes before the media data, so playing and seeking can
    # start before the whole file has arrived
    boxes = top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat")


def test_the_picture_shows_the_title_and_a_running_timecode():
    assert timecode(0, 12) == "00:00:00:00"
    assert timecode(12 * 135 + 7, 12) == "00:02:15:07"
    assert printable("Amélie & the Čapek bros.") == "AMELIE & THE CAPEK BROS."
    assert printable("부산행") == "???"


def test_the_probe_refuses_what_is_not_a_video(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("Not a film at all, only words.\n" * 50)
    with pytest.raises(NotAVideo):
        media_probe(text)
    with pytest.raises(NotAVideo):
        media_probe(io.BytesIO(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000)))


def test_the_probe_reads_a_file_object_and_leaves_it_at_its_start(clip):
    with clip.open("rb") as file:
        info = media_probe(file)
        assert file.tell() == 0
    assert info.size_bytes == clip.stat().st_size
    assert info.codec == "h264/aac"


# --- The media storage -----------------------------------------------------------------


def test_the_media_storage_is_a_private_directory_by_default():
    media = settings.STORAGES["media"]
    assert media["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert "base_url" not in media.get("OPTIONS", {})
    assert Path(media_storage().location) == Path(settings.MEDIA_ROOT)
    assert settings.MEDIA_URL_TTL_SECONDS == 300


def test_the_model_uses_the_media_storage_of_the_moment(media_root, tmp_path, settings):
    assert Path(media_storage().location) == media_root
    # a test that only moves MEDIA_ROOT moves the media storage too
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    settings.MEDIA_ROOT = tmp_path / "elsewhere"
    assert Path(media_storage().location) == tmp_path / "elsewhere"


def test_media_storage_s3_is_a_private_bucket_with_short_signed_urls():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MEDIA_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="vodstore.settings",
        DEBUG="true",
        MEDIA_STORAGE="s3",
        MEDIA_S3_BUCKET="films",
        MEDIA_S3_ENDPOINT_URL="https://objects.example.test",
        MEDIA_S3_REGION="ap-northeast-2",
        MEDIA_URL_TTL_SECONDS="120",
        AWS_ACCESS_KEY_ID="AKIATESTTESTTESTTEST",
        AWS_SECRET_ACCESS_KEY="test-secret",
    )
    code = (
        "from catalog.models import media_storage; s = media_storage(); "
        "print(s.__class__.__name__, s.default_acl, s.file_overwrite); print(s.url('vods/1/a.mp4'))"
    )
    result = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    described, url = result.stdout.splitlines()[-2].split(), result.stdout.splitlines()[-1]
    assert described == ["S3Storage", "private", "False"]
    assert url.startswith("https://objects.example.test/films/vods/1/a.mp4?")
    assert "X-Amz-Expires=120" in url and "X-Amz-Signature=" in url


# --- make_demo_media and vod_media -----------------------------------------------------


@pytest.mark.django_db
def test_make_demo_media_gives_a_film_its_feature_and_trailer_once(
    media_root, django_capture_on_commit_callbacks
):
    film = make_vod(title="The Harbor", genre="drama")

    out = make_media(vod=[film.id])

    assert "Made 2 clips; 0 films already had both." in out
    rows = {m.kind: m for m in VodMedia.objects.filter(vod=film)}
    assert set(rows) == {"feature", "trailer"}
    assert rows["feature"].duration_seconds == pytest.approx(2, abs=0.1)
    assert rows["trailer"].duration_seconds == pytest.approx(1, abs=0.1)
    for media in rows.values():
        path = media_root / media.file.name
        assert path.is_file() and media.size_bytes == path.stat().st_size
        assert (media.content_type, media.codec) == ("video/mp4", "h264/aac")
        assert (media.width, media.height) == (640, 360)
        assert media.file.name.startswith(f"vods/{film.id}/{media.kind}/")

    assert "Made 0 clips; 1 films already had both." in make_media(vod=[film.id])
    assert VodMedia.objects.filter(vod=film).count() == 2

    # --force makes them again; the files they replace go once that is committed
    with django_capture_on_commit_callbacks(execute=True):
        assert "Made 2 clips" in make_media(vod=[film.id], force=True)
    for old in rows.values():
        assert not (media_root / old.file.name).exists()
    assert len(list(media_root.rglob("*.mp4"))) == 2


@pytest.mark.django_db
def test_a_film_whose_file_is_gone_gets_a_new_one(media_root):
    film = make_vod()
    make_media(vod=[film.id])
    feature = VodMedia.objects.get(vod=film, kind="feature")
    (media_root / feature.file.name).unlink()

    assert "Made 1 clips; 0 films already had both." in make_media(vod=[film.id])
    feature.refresh_from_db()
    assert (media_root / feature.file.name).is_file()


@pytest.mark.django_db
def test_originals_gives_only_the_two_original_films_their_media(media_root):
    make_vod(title="Not an original")

    make_media(originals=True, feature_seconds=1)

    titles = set(VodMedia.objects.values_list("vod__title", flat=True))
    assert titles == set(SEED_TITLES)
    assert VodMedia.objects.count() == 4


@pytest.mark.django_db
def test_make_demo_media_refuses_unknown_films_and_odd_lengths(media_root):
    with pytest.raises(CommandError, match="No film has the id 999999"):
        make_media(vod=[999999])
    with pytest.raises(CommandError, match="--feature-seconds"):
        make_media(vod=[make_vod().id], feature_seconds=0)


@pytest.mark.django_db
def test_vod_media_returns_the_films_feature_and_trailer_on_sale_or_not(media_root):
    film, bare = make_vod(is_active=False), make_vod()
    vod_media_generate(vod_id=film.id, feature_seconds=1, trailer_seconds=1)
    stored = VodMedia.objects.get(vod=film, kind="feature")

    assert vod_media(vod_id=film.id, kind="feature") == MediaFile(
        vod_id=film.id,
        kind="feature",
        name=stored.file.name,
        size=stored.size_bytes,
        content_type="video/mp4",
        duration_seconds=stored.duration_seconds,
    )
    trailer = vod_media(vod_id=film.id, kind="trailer")
    assert trailer is not None and media_storage().exists(trailer.name)
    assert vod_media(vod_id=bare.id, kind="feature") is None
    assert vod_media(vod_id=film.id, kind="poster") is None


@pytest.mark.django_db
def test_load_demo_catalog_makes_media_only_when_asked(media_root, monkeypatch):
    monkeypatch.setattr("catalog.management.commands.make_demo_media.FEATURE_SECONDS", 1)
    monkeypatch.setattr("catalog.management.commands.make_demo_media.TRAILER_SECONDS", 1)
    call_command("load_demo_catalog", count=2, stdout=io.StringIO())
    assert not VodMedia.objects.exists()

    out = io.StringIO()
    call_command("load_demo_catalog", count=3, with_media=True, stdout=out)

    assert "Made 6 clips" in out.getvalue()
    assert VodMedia.objects.values("vod").distinct().count() == 3
    assert not VodMedia.objects.filter(vod__title__in=SEED_TITLES).exists()


@pytest.mark.django_db
def test_deleting_a_film_deletes_its_media_files(media_root, django_capture_on_commit_callbacks):
    film = make_vod()
    make_media(vod=[film.id])
    assert len(list(media_root.rglob("*.mp4"))) == 2

    with django_capture_on_commit_callbacks(execute=True):
        film.delete()

    assert not VodMedia.objects.exists()
    assert not list(media_root.rglob("*.mp4"))


# --- attach_media ------------------------------------------------------------------------


@pytest.mark.django_db
def test_attach_media_stores_a_video_file_with_its_facts(media_root, clip):
    film = make_vod()
    out = io.StringIO()

    call_command("attach_media", film.id, "trailer", str(clip), stdout=out)

    media = VodMedia.objects.get(vod=film, kind="trailer")
    assert media.file.name == f"vods/{film.id}/trailer/harbor.mp4"
    assert (media_root / media.file.name).read_bytes() == clip.read_bytes()
    assert media.duration_seconds == pytest.approx(1.5, abs=0.1)
    assert "h264/aac" in out.getvalue()


@pytest.mark.django_db
def test_attach_media_refuses_what_is_not_a_video(media_root, tmp_path):
    film = make_vod()
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n" * 100)
    with pytest.raises(CommandError, match=r"notes\.txt"):
        call_command("attach_media", film.id, "feature", str(notes))
    assert not VodMedia.objects.exists()
    assert not media_root.exists() or not any(media_root.rglob("*.*"))


# --- Admin -------------------------------------------------------------------------------


def film_form(film: Vod, **inline: object) -> dict:
    """The film change form as the browser posts it, with one media inline row."""
    data = {
        "title": film.title,
        "synopsis": film.synopsis,
        "genre": film.genre,
        "release_year": film.release_year,
        "runtime_minutes": film.runtime_minutes,
        "price": film.price,
        "poster_url": "",
        "is_active": "on",
        "media-TOTAL_FORMS": "1",
        "media-INITIAL_FORMS": "0",
        "media-MIN_NUM_FORMS": "0",
        "media-MAX_NUM_FORMS": "2",
        "media-0-id": "",
        "media-0-vod": str(film.id),
    }
    data.update({f"media-0-{key}": value for key, value in inline.items()})
    return data


@pytest.mark.django_db
def test_the_film_page_in_admin_has_the_media_inline(admin_client, media_root):
    film = make_vod()
    vod_media_generate(vod_id=film.id, feature_seconds=1, trailer_seconds=1)

    response = admin_client.get(reverse("admin:catalog_vod_change", args=[film.id]))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="media-TOTAL_FORMS"' in html
    assert "h264/aac" in html and "video/mp4" in html
    assert admin_client.get(reverse("admin:catalog_vodmedia_changelist")).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("kept_in", ["memory", "a temporary file"])
def test_uploading_a_clip_in_admin_fills_its_facts(
    admin_client, media_root, clip, settings, kept_in
):
    if kept_in == "a temporary file":
        settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # as a large upload is
    film = make_vod()
    upload = SimpleUploadedFile("trailer.mp4", clip.read_bytes(), content_type="video/mp4")

    response = admin_client.post(
        reverse("admin:catalog_vod_change", args=[film.id]),
        film_form(film, kind="trailer", file=upload),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    media = VodMedia.objects.get(vod=film, kind="trailer")
    assert media.duration_seconds == pytest.approx(1.5, abs=0.1)
    assert media.size_bytes == clip.stat().st_size
    assert (media.content_type, media.codec, media.width) == ("video/mp4", "h264/aac", 640)
    assert (media_root / media.file.name).is_file()


@pytest.mark.django_db
def test_uploading_what_is_not_a_video_in_admin_is_refused(admin_client, media_root):
    film = make_vod()
    upload = SimpleUploadedFile("film.mp4", b"just some text, honestly\n" * 40)

    response = admin_client.post(
        reverse("admin:catalog_vod_change", args=[film.id]),
        film_form(film, kind="feature", file=upload),
    )

    assert response.status_code == 200
    assert "This file is not a video the store can read" in response.content.decode()
    assert not VodMedia.objects.exists()
    assert not media_root.exists() or not any(media_root.rglob("*.*"))


@pytest.mark.django_db
def test_a_second_feature_for_a_film_is_refused_in_admin(admin_client, media_root, clip):
    film = make_vod()
    vod_media_generate(vod_id=film.id, feature_seconds=1, trailer_seconds=1)
    upload = SimpleUploadedFile("other.mp4", clip.read_bytes())

    response = admin_client.post(
        reverse("admin:catalog_vodmedia_add"), {"vod": film.id, "kind": "feature", "file": upload}
    )

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert VodMedia.objects.filter(vod=film).count() == 2


@pytest.mark.django_db
def test_replacing_a_file_in_admin_deletes_the_old_one(
    admin_client, media_root, clip, django_capture_on_commit_callbacks
):
    film = make_vod()
    vod_media_generate(vod_id=film.id, feature_seconds=1, trailer_seconds=1)
    trailer = VodMedia.objects.get(vod=film, kind="trailer")
    old = media_root / trailer.file.name
    upload = SimpleUploadedFile("new-trailer.mp4", clip.read_bytes())

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:catalog_vodmedia_change", args=[trailer.id]),
            {"vod": film.id, "kind": "trailer", "file": upload},
        )

    assert response.status_code == 302
    trailer.refresh_from_db()
    assert trailer.file.name == f"vods/{film.id}/trailer/new-trailer.mp4"
    assert trailer.duration_seconds == pytest.approx(1.5, abs=0.1)
    assert not old.exists() and (media_root / trailer.file.name).is_file()
