"""History retention: the holds released for nothing, by when they were released, so
that pruning them reads only them (`payment.services.operations_prune`); built
without stopping payments on PostgreSQL (`vodstore.online_indexes`)."""

from django.db import migrations, models

from vodstore.online_indexes import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # PostgreSQL builds an index concurrently outside a transaction only

    dependencies = [
        ("payment", "0003_recent_reference_and_cancelled_indexes"),
    ]

    operations = [
        AddIndexOnline(
            model_name="operation",
            index=models.Index(
                condition=models.Q(("purchase_id__isnull", True), ("released_at__isnull", False)),
                fields=["released_at"],
                name="payment_op_released",
            ),
        ),
    ]
