"""The embedded Celery broker: kombu's SQLAlchemy transport on an SQLite file.

Each message is a row written and taken in a transaction, so a worker never reads a message
half written (kombu's filesystem transport let it read a file the publisher had created but
not yet filled, and the worker died of a JSONDecodeError). Two fixes to kombu's transport:

- it hands every transport option to ``create_engine``, which refuses ``polling_interval``;
  the interval is the transport's own here;
- SQLite is opened in WAL mode with a busy timeout, so the web process publishing and the
  worker polling wait for each other instead of failing with "database is locked".
"""

from __future__ import annotations

from kombu.transport import sqlalchemy as kombu_sqlalchemy
from sqlalchemy import create_engine, event

from config.sqlite_broker_url import ALIAS, broker_url  # noqa: F401 - registers the alias

# A task should start within ~0.1 s of being sent; each poll is one indexed SELECT.
POLLING_INTERVAL = 0.05
BUSY_TIMEOUT_SECONDS = 30


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Channel(kombu_sqlalchemy.Channel):
    def _engine_from_config(self):
        engine = create_engine(
            self.connection.client.hostname,
            connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine


class Transport(kombu_sqlalchemy.Transport):
    Channel = Channel
    polling_interval = POLLING_INTERVAL
