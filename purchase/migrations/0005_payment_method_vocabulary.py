"""A purchase's payment method is one of the shared vocabulary's (`card`, `mileage`):
choices on the field and a check constraint in the database. The values are written
out here, not imported: a migration is history and must not follow the live code."""

from django.db import migrations, models

METHODS = [("card", "Card"), ("mileage", "Mileage points")]


class Migration(migrations.Migration):
    dependencies = [
        ("purchase", "0004_vod_reference"),
    ]

    operations = [
        migrations.AlterField(
            model_name="purchase",
            name="payment_method",
            field=models.CharField(choices=METHODS, max_length=10),
        ),
        migrations.AddConstraint(
            model_name="purchase",
            constraint=models.CheckConstraint(
                condition=models.Q(("payment_method__in", [value for value, _ in METHODS])),
                name="purchase_payment_method_known",
            ),
        ),
    ]
