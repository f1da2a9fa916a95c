"""Indexes for years of history: admin's list newest first (and any span of days), and
the cancellations since a time, for /metrics' running totals. Built without stopping
purchases on PostgreSQL (`CREATE INDEX CONCURRENTLY`: see `vodstore.online_indexes`)."""

from django.db import migrations, models

from vodstore.online_indexes import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # PostgreSQL builds an index concurrently outside a transaction only

    dependencies = [
        ("purchase", "0005_payment_method_vocabulary"),
    ]

    operations = [
        AddIndexOnline(
            model_name="purchase",
            index=models.Index(fields=["-created_at", "-id"], name="purchase_recent"),
        ),
        AddIndexOnline(
            model_name="purchase",
            index=models.Index(
                condition=models.Q(("status", "cancelled")),
                fields=["cancelled_at"],
                name="purchase_cancelled",
            ),
        ),
    ]
