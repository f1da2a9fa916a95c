"""`manage.py outbox_worker`: deliver events that are due (retries and orphans)."""

import time

from django.core.management.base import BaseCommand

from vodstore import events


class Command(BaseCommand):
    help = (
        "Deliver pending outbox events whose time has come: failed handlers after their "
        "backoff, and events a crashed process never dispatched. Safe to run several."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
        parser.add_argument("--batch", type=int, default=100)

    def handle(self, *args, once: bool, interval: float, batch: int, **options):
        while True:
            claimed, delivered = events.run_worker_pass(batch=batch)
            if claimed:
                self.stdout.write(f"claimed {claimed} event(s), delivered {delivered}")
            if once:
                return
            if claimed < batch:
                time.sleep(interval)
