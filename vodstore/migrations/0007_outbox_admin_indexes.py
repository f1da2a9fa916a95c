"""The outbox's admin list newest first, and its pending and failed events (the list's
filter, /metrics' outbox_events) without reading the delivered millions; built without
stopping the outbox's writes on PostgreSQL (`vodstore.online_indexes`)."""

from django.db import migrations, models

from vodstore.online_indexes import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # PostgreSQL builds an index concurrently outside a transaction only

    dependencies = [
        ("vodstore", "0006_storefront_sessions"),
    ]

    operations = [
        AddIndexOnline(
            model_name="outboxevent",
            index=models.Index(fields=["-occurred_at", "-id"], name="outbox_recent"),
        ),
        AddIndexOnline(
            model_name="outboxevent",
            index=models.Index(
                condition=models.Q(("status__in", ["pending", "failed"])),
                fields=["status", "-occurred_at", "-id"],
                name="outbox_unfinished",
            ),
        ),
    ]
