"""A cursor whose statements PostgreSQL plans once per connection (server-side prepared).

Django binds parameters on the client, so PostgreSQL plans every statement it receives: for
the voting path's three long statements (raters.vote_sql, raters.reservation_sql,
raters.progress) planning cost about as much CPU as running them (1.3 ms for the reservation,
1.3 ms for the progress counts, 0.6 ms for the vote, EXPLAIN ANALYZE on a load-test study).
This cursor binds on the server and prepares each statement on its first execution on a
connection; later executions send only the parameters. It is Django's cursor wrapper around
it, so query logging, execute_wrapper() and the query-count tests see these statements as any
other.

Off with DATABASE_PREPARED_STATEMENTS=0, for a pooler in transaction mode that does not
forward prepared statements (PgBouncer before 1.21, or without max_prepared_statements).
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection
from django.db.backends.utils import CursorWrapper

_cursor_class = None


def _prepared_cursor_class() -> type:
    global _cursor_class
    if _cursor_class is None:
        from django.db.backends.postgresql.base import ServerBindingCursor

        class PreparedCursor(ServerBindingCursor):
            def execute(self, query, params=None, *, prepare=None, binary=None):  # noqa: ANN001
                return super().execute(query, params, prepare=True, binary=binary)

        _cursor_class = PreparedCursor
    return _cursor_class


@contextmanager
def prepared_cursor() -> Iterator[CursorWrapper]:
    """connection.cursor(), with server-side prepared statements on PostgreSQL."""
    if connection.vendor != "postgresql" or not settings.DATABASE_PREPARED_STATEMENTS:
        with connection.cursor() as cursor:
            yield cursor
        return
    # What connection.cursor() does, with another cursor class.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        if connection.connection.prepare_threshold is None:
            # Django turns psycopg's preparing off (None); any number turns it on, and a huge
            # one keeps it to the statements run here with prepare=True (Django's own cursors
            # bind on the client and never prepare).
            connection.connection.prepare_threshold = 2**31 - 1
        raw = _prepared_cursor_class()(connection.connection)
    with connection._prepare_cursor(raw) as cursor:
        yield cursor
