"""A migration operation that adds an index to a big table without stopping its writes.

`CREATE INDEX` holds a lock that blocks every INSERT and UPDATE of the table until the
index is built: seconds per million rows, so at ten million purchases a release would
stop buying for the length of its migration. PostgreSQL's `CREATE INDEX CONCURRENTLY`
builds it while writes go on (Django's `AddIndexConcurrently`), but only PostgreSQL has
it; SQLite, the embedded store, takes the plain `CREATE INDEX`. A migration using this
operation must say `atomic = False` (PostgreSQL refuses a concurrent build inside a
transaction). If a concurrent build fails halfway, PostgreSQL keeps an INVALID index of
that name: drop it (`DROP INDEX CONCURRENTLY name`) and migrate again."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db.migrations import AddIndex


class AddIndexOnline(AddIndexConcurrently):
    """`AddIndexConcurrently` on PostgreSQL, `AddIndex` elsewhere: the same index, the
    same migration state."""

    def describe(self) -> str:
        return AddIndex.describe(self)

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
