"""`manage.py dead_letters --group APP [--replay]`: broker mode's dead-letter queues."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from vodstore import broker, events


class Command(BaseCommand):
    help = (
        "List the messages in an app's dead-letter queue (broker mode): those its consumers "
        "could not decode, or that killed a consumer until the delivery limit. --replay "
        "sends the store's events among them back to the app's queue and drops the rest."
    )

    def add_arguments(self, parser):
        parser.add_argument("--group", help="one app (default: every consuming app)")
        parser.add_argument("--replay", action="store_true")

    def handle(self, *args, group, replay, **options):
        if not settings.EVENT_BROKER_URL:
            raise CommandError("EVENT_BROKER_URL is not set: there is no broker.")
        groups = [group] if group else list(events.groups())
        if group and group not in events.groups():
            raise CommandError(f"no app named {group!r} consumes events")
        for name in groups:
            if replay:
                replayed, dropped = broker.replay_dead_letters(name)
                self.stdout.write(f"{name}: {replayed} replayed, {dropped} not events, dropped")
                continue
            letters = broker.dead_letters(name)
            self.stdout.write(f"{name}: {len(letters)} dead letter(s)")
            for headers, body in letters:
                deaths = headers.get("x-death") or [{}]
                reason = deaths[0].get("reason", "?")
                text = body if isinstance(body, str) else body.decode("utf-8", "replace")
                self.stdout.write(f"  [{reason}] {text[:200]}")
