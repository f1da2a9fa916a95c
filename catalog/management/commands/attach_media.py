"""The `attach_media` command: a video file becomes a film's feature or trailer."""

from argparse import ArgumentParser
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat

from catalog.media import NotAVideo, vod_media_attach
from catalog.models import Vod, VodMedia


class Command(BaseCommand):
    help = (
        "Attach a video file to a film as its feature or trailer (replacing the one it "
        "had): its duration, size, format and codec are read from the file, which is copied "
        "into the media storage."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("vod", type=int, help="the film's id")
        parser.add_argument("kind", choices=VodMedia.Kind.values)
        parser.add_argument("path", type=Path, help="the video file")

    def handle(self, *args: object, vod: int, kind: str, path: Path, **options: object) -> None:
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        try:
            media = vod_media_attach(vod_id=vod, kind=kind, path=path)
        except Vod.DoesNotExist:
            raise CommandError(f"No film has the id {vod}.") from None
        except NotAVideo as exc:
            raise CommandError(f"{path.name}: {exc}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Film {vod}'s {kind} is now {media.file.name}: {media.duration_seconds:g} s, "
                f"{filesizeformat(media.size_bytes)}, {media.content_type}, {media.codec}, "
                f"{media.width}x{media.height}."
            )
        )
