"""The `make_demo_media` command: a feature and a trailer for films that lack them."""

from argparse import ArgumentParser

from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat

from catalog.demo import SEED_TITLES
from catalog.media import FEATURE_SECONDS, TRAILER_SECONDS, vod_media_generate
from catalog.models import Vod

CHUNK = 500


class Command(BaseCommand):
    help = (
        "Make the demo feature and trailer (a test picture with the title, a running "
        "timecode and a tone) of every film that lacks them, or of the films given, store "
        "them in the media storage and record them. Running it again makes nothing new; "
        "--force makes them again."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--vod", type=int, action="append", metavar="ID", help="only this film (repeatable)"
        )
        parser.add_argument(
            "--originals",
            action="store_true",
            help=f"only the store's original films ({', '.join(sorted(SEED_TITLES))})",
        )
        parser.add_argument("--force", action="store_true", help="make them again, replacing them")
        parser.add_argument(
            "--feature-seconds",
            type=float,
            default=FEATURE_SECONDS,
            help=f"length of a feature (default {FEATURE_SECONDS:g})",
        )
        parser.add_argument(
            "--trailer-seconds",
            type=float,
            default=TRAILER_SECONDS,
            help=f"length of a trailer (default {TRAILER_SECONDS:g})",
        )

    def handle(
        self,
        *args: object,
        vod: list[int] | None,
        originals: bool,
        force: bool,
        feature_seconds: float,
        trailer_seconds: float,
        verbosity: int,
        **options: object,
    ) -> None:
        for name, seconds in (("feature", feature_seconds), ("trailer", trailer_seconds)):
            if not 0 < seconds <= 4 * 3600:
                raise CommandError(f"--{name}-seconds must be above 0 and at most 4 hours.")
        films = Vod.objects.order_by("id")
        if originals:
            films = films.filter(title__in=SEED_TITLES)
        if vod:
            # in chunks: load_demo_catalog --with-media passes thousands of ids
            wanted = sorted(set(vod))
            chosen = [
                film
                for start in range(0, len(wanted), CHUNK)
                for film in films.filter(pk__in=wanted[start : start + CHUNK]).values_list(
                    "id", "title"
                )
            ]
            if not originals and (missing := set(wanted) - {vod_id for vod_id, _ in chosen}):
                raise CommandError(f"No film has the id {', '.join(map(str, sorted(missing)))}.")
        else:
            chosen = films.values_list("id", "title")
        clips = complete = 0
        for vod_id, title in chosen:
            made = vod_media_generate(
                vod_id=vod_id,
                force=force,
                feature_seconds=feature_seconds,
                trailer_seconds=trailer_seconds,
            )
            if not made:
                complete += 1
            for kind, info, elapsed in made:
                clips += 1
                if verbosity >= 1:
                    self.stdout.write(
                        f"  {title} (film {vod_id}): {kind}, {info.duration_seconds:g} s, "
                        f"{filesizeformat(info.size_bytes)}, {info.codec}, "
                        f"made in {elapsed:.1f} s"
                    )
        self.stdout.write(
            self.style.SUCCESS(f"Made {clips} clips; {complete} films already had both.")
        )
