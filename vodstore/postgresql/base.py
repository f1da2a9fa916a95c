"""Django's PostgreSQL backend, with its health check (CONN_HEALTH_CHECKS) asked only of
a connection that has rested.

Django checks a persistent connection with `SELECT 1` before the first query of every
request, so that one broken while idle (the server restarted, a proxy dropped it) is
replaced rather than failing a request. On a busy store that check was one round trip
in every two of a signed-in page. A connection that finished a request less than
`RESTED_SECONDS` ago was working then; a server cannot go down and come back in that
time unseen, and if it did, the request gets the answer of an outage (503 with
Retry-After, `vodstore.outage`) and the connection is replaced at its end, as after
any error.

It also gives `prepared_cursor()`: Django's cursor (its wrapper: query logging, the
database's errors as Django's, execute wrappers) around a psycopg cursor that binds
parameters in the server and prepares each statement it runs, so that the server
parses and plans it once per connection. The queries compiled once
(`vodstore.compiled`: a signed-in page's session, a buyer's lists) run through it,
unless `DATABASE_PREPARED_STATEMENTS` is off (behind a pooler that cannot keep them:
PgBouncer in transaction mode before 1.21). Django's other queries bind on the client,
as Django does by default."""

import sys
import time

from django.conf import settings
from django.db.backends.postgresql import base
from psycopg.errors import DataError
from psycopg.pq import Format


class PreparingCursor(base.ServerBindingCursor):
    """Binds its parameters in the server and prepares what it executes."""

    def execute(self, query, params=None, *, prepare=True, binary=None):
        return super().execute(query, params, prepare=prepare, binary=binary)


class DatabaseOperations(base.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        """What a PreparingCursor ran, with its values in (as Django logs any query: a
        prepared statement's execution leaves psycopg no text to report)."""
        if isinstance(cursor, PreparingCursor):
            try:
                return self.compose_sql(sql, params)
            except DataError:
                return None
        return super().last_executed_query(cursor, sql, params)


RESTED_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    _clean_at: float | None = None  # when a request last left this connection working

    def close_if_unusable_or_obsolete(self) -> None:
        """Django's (at the start and the end of every request), and then no health
        check for the coming request if the connection was fine a moment ago."""
        now = time.monotonic()
        recent = self._clean_at is not None and now - self._clean_at < RESTED_SECONDS
        super().close_if_unusable_or_obsolete()
        if self.connection is None or self.errors_occurred:
            self._clean_at = None
            return
        self._clean_at = now
        if recent:
            self.health_check_done = True

    def close(self) -> None:
        self._clean_at = None
        super().close()

    def prepared_cursor(self):
        """A cursor whose statements the server prepares (see the module); Django's own
        cursor when `DATABASE_PREPARED_STATEMENTS` is off."""
        if not settings.DATABASE_PREPARED_STATEMENTS:
            return self.cursor()
        self.close_if_health_check_failed()
        self.ensure_connection()
        if self.connection.prepare_threshold is None:  # Django's: psycopg prepares nothing
            # only a PreparingCursor asks (prepare=True); Django's cursors bind on the
            # client, and those never prepare
            self.connection.prepare_threshold = sys.maxsize
        with self.wrap_database_errors:
            cursor = PreparingCursor(self.connection)
            # as Django's create_cursor: the time zone of times read, if it differs
            loader = self.connection.adapters.get_loader(base.TIMESTAMPTZ_OID, Format.TEXT)
            if self.timezone != loader.timezone:
                base.register_tzloader(self.timezone, cursor)
            return self._prepare_cursor(cursor)
