"""One account per e-mail address, whatever its case: a unique index on lower(email)
over the accounts that have one (auth.User is Django's and cannot carry the constraint
itself). Partial expression indexes are the same SQL on SQLite and PostgreSQL."""

from django.db import migrations

INDEX = "vodstore_auth_user_email_ci_uniq"


def refuse_duplicates(apps, schema_editor):
    """A clear message instead of a bare IntegrityError when two accounts already share
    an address (the store asked for none before, so only admin-made accounts could)."""
    from django.db.models import Count
    from django.db.models.functions import Lower

    User = apps.get_model("auth", "User")
    shared = (
        User.objects.exclude(email="")
        .annotate(address=Lower("email"))
        .values("address")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    if shared.exists():
        addresses = ", ".join(row["address"] for row in shared[:10])
        raise RuntimeError(
            f"Several accounts share an e-mail address ({addresses}); give each its own "
            "(or empty it) in admin, then migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("vodstore", "0003_broker_mode"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(refuse_duplicates, migrations.RunPython.noop),
        migrations.RunSQL(
            f"CREATE UNIQUE INDEX {INDEX} ON auth_user (LOWER(email)) WHERE email <> ''",
            f"DROP INDEX {INDEX}",
        ),
    ]
