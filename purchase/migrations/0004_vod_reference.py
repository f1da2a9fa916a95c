"""A purchase names its film by the catalog's id, no longer by a foreign key into the
catalog: the `vod_id` column keeps its name, type, values, index and the partial
unique constraint (one paid purchase per user and film); only the foreign key
constraint is dropped (PostgreSQL drops it in place, SQLite rebuilds the table)."""

from django.db import migrations, models

ONE_PAID = "one_paid_purchase_per_user_and_vod"


class Migration(migrations.Migration):
    dependencies = [
        ("purchase", "0003_receipt"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # What the database sees: the same column, now a plain indexed integer.
            database_operations=[
                migrations.AlterField(
                    model_name="purchase",
                    name="vod",
                    field=models.BigIntegerField(db_column="vod_id", db_index=True),
                ),
            ],
            # What the models see: the field `vod` becomes the field `vod_id` (the same
            # column), and the constraint names it.
            state_operations=[
                migrations.RemoveConstraint(model_name="purchase", name=ONE_PAID),
                migrations.RemoveField(model_name="purchase", name="vod"),
                migrations.AddField(
                    model_name="purchase",
                    name="vod_id",
                    field=models.BigIntegerField(db_index=True),
                ),
                migrations.AddConstraint(
                    model_name="purchase",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("status", "paid")),
                        fields=("user", "vod_id"),
                        name=ONE_PAID,
                    ),
                ),
            ],
        ),
    ]
