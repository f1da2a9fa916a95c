"""On SQLite, a trigram full-text index of film titles for the catalog's search
(`catalog.search`); PostgreSQL has its pg_trgm index from 0003 and gets nothing here.
An SQLite without FTS5's trigram tokenizer (older than 3.34) keeps searching with LIKE."""

import logging

from django.db import OperationalError, migrations

from catalog import search

logger = logging.getLogger(__name__)


def create_title_index(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    try:
        schema_editor.execute(search.CREATE_TABLE)
    except OperationalError as exc:  # no FTS5, or no trigram tokenizer
        logger.warning("catalog: no trigram title index on this SQLite (%s); LIKE it is", exc)
        return
    for trigger in search.TRIGGERS:
        schema_editor.execute(trigger)
    schema_editor.execute(search.FILL)


def drop_title_index(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for statement in search.DROP:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_indexes_for_search_and_ordering")]

    operations = [migrations.RunPython(create_title_index, drop_title_index, elidable=False)]
