"""`manage.py consume_events --group APP`: broker mode's consumer of one app's queue."""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from vodstore import events
from vodstore.broker import GroupConsumer

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run one app's event handlers on the messages of its RabbitMQ queue (broker mode). "
        "Run as many as needed, on any machine; each survives broker and database restarts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--group",
            required=True,
            help=f"the app whose handlers run: {', '.join(events.groups())}",
        )
        parser.add_argument(
            "--until-idle",
            type=float,
            metavar="SECONDS",
            help="stop once no message has come for this long",
        )

    def handle(self, *args, group, until_idle, **options):
        if not settings.EVENT_BROKER_URL:
            raise CommandError("EVENT_BROKER_URL is not set: events are dispatched in-process.")
        try:
            consumer = GroupConsumer(group)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())  # finish the message in hand, then stop
        self.stdout.write(f"consuming {group}'s events")
        counts = consumer.run(stop, idle_seconds=until_idle)
        self.stdout.write(f"stopped: {dict(sorted(counts.items()))}")
