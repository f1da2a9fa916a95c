"""Title search ignores spaces as well as case (`catalog.search`): "to busan" finds
"ToBusan". PostgreSQL gets a pg_trgm index on the expression the search compares,
REPLACE(UPPER(title), ' ', ''); SQLite's FTS5 table from 0004 is made again, holding
each title without its spaces (a database migrated before 0004 was changed holds the
titles as they are).

The statements are written out here, not taken from `catalog.search`, so that this
migration does the same thing whatever that module becomes."""

import logging

from django.db import OperationalError, migrations

logger = logging.getLogger(__name__)

SQUASHED_INDEX = "vod_title_squashed_trgm"

# (written out in full: the table's name is a constant, nothing here comes from a user)
# (`title` holds the title without its spaces; a contentless table's 'delete' must be
# given the values that were inserted, hence the same replace() there)
CREATE_TABLE = """
    CREATE VIRTUAL TABLE catalog_vod_title USING fts5(title, content='', tokenize='trigram')
"""
TRIGGERS = [
    """
    CREATE TRIGGER catalog_vod_title_insert AFTER INSERT ON catalog_vod BEGIN
        INSERT INTO catalog_vod_title (rowid, title) VALUES (new.id, replace(new.title, ' ', ''));
    END
    """,
    """
    CREATE TRIGGER catalog_vod_title_delete AFTER DELETE ON catalog_vod BEGIN
        INSERT INTO catalog_vod_title (catalog_vod_title, rowid, title)
        VALUES ('delete', old.id, replace(old.title, ' ', ''));
    END
    """,
    """
    CREATE TRIGGER catalog_vod_title_update AFTER UPDATE OF title ON catalog_vod BEGIN
        INSERT INTO catalog_vod_title (catalog_vod_title, rowid, title)
        VALUES ('delete', old.id, replace(old.title, ' ', ''));
        INSERT INTO catalog_vod_title (rowid, title) VALUES (new.id, replace(new.title, ' ', ''));
    END
    """,
]
FILL = (
    "INSERT INTO catalog_vod_title (rowid, title) "
    "SELECT id, replace(title, ' ', '') FROM catalog_vod"
)
DROP = [
    "DROP TRIGGER IF EXISTS catalog_vod_title_insert",
    "DROP TRIGGER IF EXISTS catalog_vod_title_delete",
    "DROP TRIGGER IF EXISTS catalog_vod_title_update",
    "DROP TABLE IF EXISTS catalog_vod_title",
]


def _sqlite_title_index(schema_editor):
    for statement in DROP:
        schema_editor.execute(statement)
    try:
        schema_editor.execute(CREATE_TABLE)
    except OperationalError as exc:  # no FTS5, or no trigram tokenizer
        logger.warning("catalog: no trigram title index on this SQLite (%s); LIKE it is", exc)
        return
    for trigger in TRIGGERS:
        schema_editor.execute(trigger)
    schema_editor.execute(FILL)


def create_indexes(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {SQUASHED_INDEX} ON catalog_vod "
            "USING gin ((REPLACE(UPPER(title), ' ', '')) gin_trgm_ops)"
        )
    elif vendor == "sqlite":
        _sqlite_title_index(schema_editor)


def drop_indexes(apps, schema_editor):
    # SQLite keeps the table as it is now (0004's reversal drops it); PostgreSQL's
    # UPPER(title) index from 0003 serves the search as it was.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {SQUASHED_INDEX}")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_vod_media")]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
