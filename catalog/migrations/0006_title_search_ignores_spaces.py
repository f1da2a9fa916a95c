"""Title search ignores spaces as well as case (`catalog.search`): "to busan" finds
"ToBusan". PostgreSQL gets a pg_trgm index on the expression the search compares,
REPLACE(UPPER(title), ' ', ''); SQLite's FTS5 table from 0004 is made again, holding
each title without its spaces (as `catalog.search` now defines it)."""

from django.db import migrations

from catalog import search

SQUASHED_INDEX = "vod_title_squashed_trgm"


def create_indexes(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {SQUASHED_INDEX} ON catalog_vod "
            "USING gin ((REPLACE(UPPER(title), ' ', '')) gin_trgm_ops)"
        )
    elif vendor == "sqlite":
        search.create_index(schema_editor)


def drop_indexes(apps, schema_editor):
    # SQLite keeps the table as it is now (0004's reversal drops it); PostgreSQL's
    # UPPER(title) index from 0003 serves the search as it was.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {SQUASHED_INDEX}")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_vod_media")]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
