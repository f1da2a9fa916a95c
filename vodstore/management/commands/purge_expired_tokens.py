"""`manage.py purge_expired_tokens`: delete API tokens whose expiry has passed."""

from django.core.management.base import BaseCommand
from django.utils import timezone
from knox.models import AuthToken


class Command(BaseCommand):
    help = "Delete expired API tokens (an expired token is refused anyway; this frees its row)."

    def handle(self, *args, **options):
        deleted, _ = AuthToken.objects.filter(expiry__lt=timezone.now()).delete()
        self.stdout.write(f"deleted {deleted} expired token(s)")
