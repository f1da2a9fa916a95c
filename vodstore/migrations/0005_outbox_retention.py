"""Retention (`vodstore.retention`) takes the oldest finished outbox events first: a
partial index on the age of delivered events and one on the age of published ones.
The outbox is the table of years of history and every purchase writes to it, so they
are built without stopping its writes on PostgreSQL (`CREATE INDEX CONCURRENTLY`: see
`vodstore.online_indexes`)."""

from django.db import migrations, models

from vodstore.online_indexes import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # PostgreSQL builds an index concurrently outside a transaction only

    dependencies = [
        ("vodstore", "0004_user_email_unique"),
    ]

    operations = [
        AddIndexOnline(
            model_name="outboxevent",
            index=models.Index(
                condition=models.Q(("status", "delivered")),
                fields=["delivered_at"],
                name="outbox_delivered_age",
            ),
        ),
        AddIndexOnline(
            model_name="outboxevent",
            index=models.Index(
                condition=models.Q(("status", "published")),
                fields=["published_at"],
                name="outbox_published_age",
            ),
        ),
    ]
