"""Title search: `LIKE '%word%'` made fast on SQLite with an FTS5 trigram index.

PostgreSQL answers `title__icontains` from its pg_trgm index (migration 0003). SQLite
has no index for a LIKE with a leading wildcard, so at 100,000 films every search read
the whole table. There, migration 0004 adds the FTS5 table `catalog_vod_title` with
the trigram tokenizer (SQLite 3.34 or newer), which finds the titles containing a
phrase of three or more characters, whatever its case. Triggers keep it in step with
`catalog_vod`: every insert (bulk ones too), title change and delete.

Where the index cannot help (a phrase shorter than three characters, another database,
an SQLite built without the tokenizer, where the migration leaves the table out) the
search is the plain `title__icontains` it always was.

Mind Django's SQLite migrations: one that rebuilds `catalog_vod` (to alter a column,
say) drops its triggers; `tests/catalog/test_search.py` then fails until that
migration recreates them (`TRIGGERS`)."""

from django.db import connections
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

TABLE = "catalog_vod_title"
MIN_LENGTH = 3  # a trigram index finds nothing shorter

# (written out in full: the table's name is a constant, nothing here comes from a user)
CREATE_TABLE = """
    CREATE VIRTUAL TABLE catalog_vod_title USING fts5(
        title, content='catalog_vod', content_rowid='id', tokenize='trigram'
    )
"""
TRIGGERS = [
    """
    CREATE TRIGGER catalog_vod_title_insert AFTER INSERT ON catalog_vod BEGIN
        INSERT INTO catalog_vod_title (rowid, title) VALUES (new.id, new.title);
    END
    """,
    """
    CREATE TRIGGER catalog_vod_title_delete AFTER DELETE ON catalog_vod BEGIN
        INSERT INTO catalog_vod_title (catalog_vod_title, rowid, title)
        VALUES ('delete', old.id, old.title);
    END
    """,
    """
    CREATE TRIGGER catalog_vod_title_update AFTER UPDATE OF title ON catalog_vod BEGIN
        INSERT INTO catalog_vod_title (catalog_vod_title, rowid, title)
        VALUES ('delete', old.id, old.title);
        INSERT INTO catalog_vod_title (rowid, title) VALUES (new.id, new.title);
    END
    """,
]
FILL = "INSERT INTO catalog_vod_title (catalog_vod_title) VALUES ('rebuild')"
DROP = [
    "DROP TRIGGER IF EXISTS catalog_vod_title_insert",
    "DROP TRIGGER IF EXISTS catalog_vod_title_delete",
    "DROP TRIGGER IF EXISTS catalog_vod_title_update",
    "DROP TABLE IF EXISTS catalog_vod_title",
]
MATCHING = "SELECT rowid FROM catalog_vod_title WHERE catalog_vod_title MATCH %s"

_indexed: dict[tuple[str, str], bool] = {}  # (database alias, file) -> has the table


def indexed(alias: str) -> bool:
    """Whether database `alias` is an SQLite database with the trigram title index."""
    connection = connections[alias]
    if connection.vendor != "sqlite":
        return False
    key = (alias, str(connection.settings_dict["NAME"]))
    if key not in _indexed:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [TABLE]
            )
            _indexed[key] = cursor.fetchone() is not None
    return _indexed[key]


def _phrase(text: str) -> str:
    """`text` as one FTS5 phrase: quoted, so that no character is an operator."""
    return '"' + text.replace('"', '""') + '"'


def title_contains(films: QuerySet, text: str) -> QuerySet:
    """`films` whose title contains `text`, ignoring case."""
    if "\x00" in text:
        # No title holds a NUL (forms and serializers refuse one), and PostgreSQL
        # refuses one in a query's text (a 500, where SQLite said nothing).
        return films.none()
    if len(text) >= MIN_LENGTH and indexed(films.db):
        # the user's text is a parameter, never part of the SQL
        return films.filter(id__in=RawSQL(MATCHING, [_phrase(text)]))  # noqa: S611
    return films.filter(title__icontains=text)
