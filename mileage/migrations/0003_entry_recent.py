"""An index for years of history: admin's ledger newest first, and any span of days (the
sales overview), without reading the whole ledger. Built without stopping the ledger's
writes on PostgreSQL (`CREATE INDEX CONCURRENTLY`: see `vodstore.online_indexes`)."""

from django.db import migrations, models

from vodstore.online_indexes import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # PostgreSQL builds an index concurrently outside a transaction only

    dependencies = [
        ("mileage", "0002_plain_reason_labels"),
    ]

    operations = [
        AddIndexOnline(
            model_name="mileageentry",
            index=models.Index(fields=["-created_at", "-id"], name="entry_recent"),
        ),
    ]
