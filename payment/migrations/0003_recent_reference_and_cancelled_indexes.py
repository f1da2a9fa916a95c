"""Indexes for years of history: admin's payments and operations newest first (and the
rare operations: voids, refunds, pending, failed), a search by purchase or by the
gateway's reference, and the cancellations since a time (for /metrics' running totals
and the sales overview). Built without stopping payments on
PostgreSQL (`CREATE INDEX CONCURRENTLY`: see `vodstore.online_indexes`)."""

from django.db import migrations, models

from vodstore.online_indexes import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # PostgreSQL builds an index concurrently outside a transaction only

    dependencies = [
        ("payment", "0002_operations"),
    ]

    operations = [
        AddIndexOnline(
            model_name="operation",
            index=models.Index(fields=["-created_at", "-id"], name="payment_op_recent"),
        ),
        AddIndexOnline(
            model_name="operation",
            index=models.Index(
                condition=models.Q(
                    ("kind__in", ["void", "refund"]),
                    ("state__in", ["pending", "failed"]),
                    _connector="OR",
                ),
                fields=["-created_at", "-id"],
                name="payment_op_unusual",
            ),
        ),
        AddIndexOnline(
            model_name="operation",
            index=models.Index(
                condition=models.Q(("purchase_id__isnull", False)),
                fields=["purchase_id"],
                name="payment_op_purchase",
            ),
        ),
        AddIndexOnline(
            model_name="operation",
            index=models.Index(
                condition=models.Q(("reference", ""), _negated=True),
                fields=["reference"],
                name="payment_op_reference",
            ),
        ),
        AddIndexOnline(
            model_name="payment",
            index=models.Index(fields=["-approved_at", "-id"], name="payment_recent"),
        ),
        AddIndexOnline(
            model_name="payment",
            index=models.Index(
                condition=models.Q(("status", "cancelled")),
                fields=["cancelled_at"],
                name="payment_cancelled",
            ),
        ),
        AddIndexOnline(
            model_name="payment",
            index=models.Index(
                condition=models.Q(("gateway_reference", ""), _negated=True),
                fields=["gateway_reference"],
                name="payment_reference",
            ),
        ),
    ]
