"""The `load_demo_catalog` command: makes sure the first N generated demo films exist."""

from argparse import ArgumentParser

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from catalog.cache import catalog_changed
from catalog.demo import demo_films
from catalog.models import Vod

DEFAULT_COUNT = 200

# Each batch is its own short transaction, so a load of 100,000 films never holds the
# database write lock for long and shoppers keep browsing and buying while it runs.
BATCH_SIZE = 2000


class Command(BaseCommand):
    help = (
        "Make sure the first --count generated demo films exist. Running it again creates "
        "nothing; a larger --count adds only the missing films. Existing films (the seed "
        "films included) are never changed."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--count",
            type=int,
            default=DEFAULT_COUNT,
            help=f"how many demo films should exist (default {DEFAULT_COUNT})",
        )
        parser.add_argument(
            "--with-media",
            action="store_true",
            help=(
                "also make the demo feature and trailer of each of these films that lacks "
                "them (make_demo_media; about 5 s a film)"
            ),
        )

    def handle(
        self, *args: object, count: int, with_media: bool, verbosity: int, **options: object
    ) -> None:
        if count < 0:
            raise CommandError(f"--count must be zero or more, not {count}.")
        self.verbosity = verbosity
        # A film counts as present by its title, whoever added it: one query, not one per film.
        existing_titles = set(Vod.objects.values_list("title", flat=True))
        created = existed = 0
        batch: list[Vod] = []
        titles: set[str] = set()
        for film in demo_films(count=count):
            titles.add(film["title"])
            if film["title"] in existing_titles:
                existed += 1
                continue
            batch.append(Vod(**film))
            if len(batch) == BATCH_SIZE:
                created += self._insert(batch=batch)
                batch = []
        created += self._insert(batch=batch)
        if created:
            catalog_changed()  # bulk inserts send no post_save: refresh the cached catalog
        self.stdout.write(
            self.style.SUCCESS(f"Created {created} demo films; {existed} already existed.")
        )
        if with_media:
            # by title, in Python: an IN list of 100,000 titles is more than SQLite takes
            vod_ids = [
                vod_id
                for vod_id, title in Vod.objects.values_list("id", "title")
                if title in titles
            ]
            if vod_ids:
                call_command(
                    "make_demo_media", vod=vod_ids, stdout=self.stdout, verbosity=verbosity
                )

    def _insert(self, *, batch: list[Vod]) -> int:
        if not batch:
            return 0
        # Straight bulk inserts rather than vod_create: a validated save per film would make a
        # 100,000-film load crawl, and demo films are no staff registrations (no VodRegistered).
        with transaction.atomic():
            Vod.objects.bulk_create(batch, batch_size=BATCH_SIZE)
        if self.verbosity >= 2:
            self.stdout.write(f"  inserted {len(batch)} films, the last {batch[-1].title!r}")
        return len(batch)
