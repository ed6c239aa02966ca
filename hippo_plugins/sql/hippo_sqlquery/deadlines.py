"""Stopping a query that runs too long, each database its own way.

A query that hangs would hold one of the poller's threads for as long as it hangs, so
every poll runs under ``query_timeout_seconds``:

- PostgreSQL: ``SET LOCAL statement_timeout`` in the poll's transaction (it ends with it,
  and works through PgBouncer, unlike a startup option);
- MariaDB: ``SET SESSION max_statement_time``; MySQL: ``SET SESSION max_execution_time``
  (SELECTs only, which is all a poll runs); PyMySQL's ``read_timeout`` (the limit plus
  :data:`READ_MARGIN`) also gives up on a server that stops answering at all;
- SQLite: a progress handler that interrupts the poll's statements once the poll has
  run that long.

The database then fails the statement; :mod:`hippo_sqlquery.errors` reports that as
transient. Other databases get only their driver's own timeouts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

# Seconds past query_timeout before PyMySQL stops waiting for any answer: the server's
# own limit, with its clearer message, comes first.
READ_MARGIN = 30
# SQLite virtual machine instructions between two looks at the clock.
_SQLITE_CHECK_EVERY = 10_000


@contextmanager
def statement_deadline(connection: sa.Connection, seconds: int) -> Iterator[None]:
    """Within this block, statements on ``connection`` are stopped after ``seconds``."""
    dialect = connection.dialect
    if dialect.name == "postgresql":
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(seconds) * 1000}")
    elif dialect.name in ("mysql", "mariadb"):
        if getattr(dialect, "is_mariadb", False):
            connection.exec_driver_sql(f"SET SESSION max_statement_time = {int(seconds)}")
        else:
            connection.exec_driver_sql(f"SET SESSION max_execution_time = {int(seconds) * 1000}")
    elif dialect.name == "sqlite":
        with _sqlite_deadline(connection, seconds):
            yield
        return
    yield


@contextmanager
def _sqlite_deadline(connection: sa.Connection, seconds: int) -> Iterator[None]:
    raw = connection.connection.dbapi_connection
    if raw is None:  # a connection in use always has one; SQLAlchemy types it optional
        raise RuntimeError("the SQLite connection has no DBAPI connection to interrupt")
    deadline = time.monotonic() + seconds
    # A true answer makes SQLite stop the statement with "interrupted".
    raw.set_progress_handler(lambda: time.monotonic() > deadline, _SQLITE_CHECK_EVERY)
    try:
        yield
    finally:
        raw.set_progress_handler(None, _SQLITE_CHECK_EVERY)
