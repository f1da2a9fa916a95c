"""On SQLite, a trigram full-text index of film titles for the catalog's search
(`catalog.search`); PostgreSQL has its pg_trgm index from 0003 and gets nothing here.
An SQLite without FTS5's trigram tokenizer (older than 3.34) keeps searching with LIKE.

The statements are written out here, not taken from `catalog.search`, so that this
migration does the same thing whatever that module becomes. They are the ones 0006
makes again (each title held without its spaces)."""

import logging

from django.db import OperationalError, migrations

logger = logging.getLogger(__name__)

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


def create_title_index(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
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


def drop_title_index(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for statement in DROP:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_indexes_for_search_and_ordering")]

    operations = [migrations.RunPython(create_title_index, drop_title_index, elidable=False)]
