"""Django's PostgreSQL backend, with its health check (CONN_HEALTH_CHECKS) asked only of
a connection that has rested.

Django checks a persistent connection with `SELECT 1` before the first query of every
request, so that one broken while idle (the server restarted, a proxy dropped it) is
replaced rather than failing a request. On a busy store that check was one round trip
in every two of a signed-in page. A connection that finished a request less than
`RESTED_SECONDS` ago was working then; a server cannot go down and come back in that
time unseen, and if it did, the request gets the answer of an outage (503 with
Retry-After, `vodstore.outage`) and the connection is replaced at its end, as after
any error."""

import time

from django.db.backends.postgresql import base

RESTED_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
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
