"""`manage.py purge_idempotency_keys`: forget keys past their retention (24 h)."""

from django.core.management.base import BaseCommand

from purchase.idempotency import idempotency_purge


class Command(BaseCommand):
    help = "Delete Idempotency-Key records older than IDEMPOTENCY_KEY_TTL_HOURS."

    def handle(self, *args, **options):
        self.stdout.write(f"deleted {idempotency_purge()} expired idempotency key(s)")
