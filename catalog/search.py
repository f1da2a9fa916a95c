"""Title search: the titles that contain the text, ignoring case and spaces ("to busan"
finds "ToBusan", "tobusan" finds "To Busan"), made fast with trigram indexes.

Both sides are compared without their spaces, upper-cased: `REPLACE(UPPER(title), ' ',
'') LIKE '%TOBUSAN%'`. PostgreSQL answers that from its pg_trgm index on that very
expression (migration 0006). SQLite has no index for a LIKE with a leading wildcard,
so at 100,000 films every search read the whole table. There, migrations 0004 and
0006 add the FTS5 table `catalog_vod_title` with the trigram tokenizer (SQLite 3.34 or
newer), holding each title without its spaces; it finds the titles containing a phrase
of three or more characters, whatever its case. It is contentless (it keeps no copy
of the titles, only its index) and triggers keep it in step with `catalog_vod`: every
insert (bulk ones too), title change and delete.

Where the index cannot help (a phrase shorter than three characters, an SQLite built
without the tokenizer, where the migration leaves the table out) the search is the
same comparison without an index.

The table and its triggers are made by those migrations, each with its statements
written out (a migration must not change when this module does): a change to what the
table holds is a new migration that makes it again. Mind Django's SQLite migrations: one
that rebuilds `catalog_vod` (to alter a column, say) drops its triggers;
`tests/catalog/test_search.py` then fails until that migration makes them again
(0006's statements)."""

from django.db import connections
from django.db.models import QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Replace, Upper

TABLE = "catalog_vod_title"
MIN_LENGTH = 3  # a trigram index finds nothing shorter
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


def without_spaces(text: str) -> str:
    """What the search compares: the text without its spaces."""
    return text.replace(" ", "")


def squashed_title() -> Replace:
    """A title upper-cased and without its spaces, as PostgreSQL's index (0006) holds it."""
    return Replace(Upper("title"), Value(" "), Value(""))


def title_contains(films: QuerySet, text: str) -> QuerySet:
    """`films` whose title contains `text`, ignoring case and spaces."""
    if "\x00" in text:
        # No title holds a NUL (forms and serializers refuse one), and PostgreSQL
        # refuses one in a query's text (a 500, where SQLite said nothing).
        return films.none()
    needle = without_spaces(text)
    if not needle:
        return films
    if len(needle) >= MIN_LENGTH and indexed(films.db):
        # the user's text is a parameter, never part of the SQL
        return films.filter(id__in=RawSQL(MATCHING, [_phrase(needle)]))  # noqa: S611
    return films.alias(squashed_title=squashed_title()).filter(
        squashed_title__contains=needle.upper()
    )
