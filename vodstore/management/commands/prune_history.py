"""`manage.py prune_history`: delete finished outbox events (with their delivery and
retry records) older than `OUTBOX_RETENTION_DAYS`, in short batches, and forget expired
Idempotency-Key answers. The outbox worker does the same every
`OUTBOX_RETENTION_EVERY_SECONDS`; this is for cron, a first clean-up, or a look
(`--dry-run`)."""

from django.core.management.base import BaseCommand, CommandError

from vodstore import retention


class Command(BaseCommand):
    help = (
        "Delete outbox events whose handling is finished, with their delivery records, once "
        "older than OUTBOX_RETENTION_DAYS (failed and pending events are kept), in batches "
        "of OUTBOX_RETENTION_BATCH_SIZE, each its own transaction; and expired "
        "Idempotency-Key answers."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be deleted; delete nothing"
        )
        parser.add_argument(
            "--days", type=int, help="keep this many days instead of OUTBOX_RETENTION_DAYS"
        )
        parser.add_argument(
            "--batch-size", type=int, help="events per transaction (OUTBOX_RETENTION_BATCH_SIZE)"
        )

    def handle(self, *args, dry_run, days, batch_size, verbosity, **options):
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1")
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if dry_run:
            counts = retention.outbox_prunable(days=days)
            for kind, n in counts.items():
                prefix = "" if kind.startswith("kept") else "would delete: "
                self.stdout.write(f"{prefix}{kind}: {n}")
            self.stdout.write(
                "idempotency keys: not counted (purge_idempotency_keys deletes those older "
                "than IDEMPOTENCY_KEY_TTL_HOURS)"
            )
            return

        def report(batch: retention.Batch) -> None:
            self.stdout.write(
                f"batch: {batch.events} {batch.kind} event(s), {batch.deliveries} delivery "
                f"and {batch.retries} retry record(s), {batch.seconds * 1000:.0f} ms"
            )

        pruned = retention.history_prune(
            days=days, batch_size=batch_size, on_batch=report if verbosity >= 2 else None
        )
        self.stdout.write(pruned.summary())
