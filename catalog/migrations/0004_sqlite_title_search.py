"""On SQLite, a trigram full-text index of film titles for the catalog's search
(`catalog.search`); PostgreSQL has its pg_trgm index from 0003 and gets nothing here.
An SQLite without FTS5's trigram tokenizer (older than 3.34) keeps searching with LIKE."""

from django.db import migrations

from catalog import search


def create_title_index(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    search.create_index(schema_editor)


def drop_title_index(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for statement in search.DROP:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_indexes_for_search_and_ordering")]

    operations = [migrations.RunPython(create_title_index, drop_title_index, elidable=False)]
