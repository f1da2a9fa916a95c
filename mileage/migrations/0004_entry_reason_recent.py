"""An index for the admin's ledger filtered by reason, newest first: the entries of a
rare reason (points returned for a cancelled points purchase) are read directly, not
found among millions of others by `entry_recent`. Built without stopping the ledger's
writes on PostgreSQL (`CREATE INDEX CONCURRENTLY`: see `vodstore.online_indexes`)."""

from django.db import migrations, models

from vodstore.online_indexes import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # PostgreSQL builds an index concurrently outside a transaction only

    dependencies = [
        ("mileage", "0003_entry_recent"),
    ]

    operations = [
        AddIndexOnline(
            model_name="mileageentry",
            index=models.Index(
                fields=["reason", "-created_at", "-id"], name="entry_reason_recent"
            ),
        ),
    ]
