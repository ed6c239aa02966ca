"""Sorting database failures: worth retrying soon, or for the user to fix.

Messages carry the database's own words and the URL with its password (and any
secret-looking option) hidden.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import URL

from hippo_core.queuetype import QueueTypeError
from hippo_sqlquery.urls import secret_values, shown


class DatabaseUnavailable(Exception):
    """The database could not be reached, dropped the connection, or was busy."""


# PyMySQL error numbers: server gone or unreachable, too many connections,
# shutting down, lock wait timeout, deadlock.
_MYSQL_TRANSIENT = {1040, 1053, 1205, 1213, 2002, 2003, 2006, 2013, 2055}
# SQLSTATE: connection exception (08), insufficient resources (53), operator
# intervention such as a restart (57P), serialization failure, deadlock.
_PG_TRANSIENT_PREFIXES = ("08", "53", "57P", "40001", "40P01")
# psycopg reports failures to connect without an SQLSTATE; these are the ones where
# the server was not reached or not ready, unlike "role ... does not exist".
_PG_UNREACHABLE = (
    "Connection refused",
    "Connection timed out",
    "timeout expired",
    "No route to host",
    "Network is unreachable",
    "could not translate host name",
    "failed to resolve host",
    "server closed the connection",
    "the database system is starting up",
    "the database system is shutting down",
    "too many clients",
)


# A statement stopped by the limits hippo_sqlquery.deadlines sets: PostgreSQL's
# statement_timeout (query_canceled), MariaDB's max_statement_time, MySQL's
# max_execution_time, SQLite's progress handler.
_PG_CANCELED = "57014"
_MYSQL_STATEMENT_TIMEOUTS = {1969, 3024}


def is_timeout(error: sa.exc.DBAPIError) -> bool:
    orig = error.orig
    family = type(orig).__module__.partition(".")[0]
    if family == "pymysql":
        return bool(orig.args) and orig.args[0] in _MYSQL_STATEMENT_TIMEOUTS
    if family == "psycopg":
        return getattr(orig, "sqlstate", None) == _PG_CANCELED
    if family == "sqlite3":
        return str(orig) == "interrupted"
    return False


def is_transient(error: sa.exc.DBAPIError) -> bool:
    if error.connection_invalidated:
        return True
    orig = error.orig
    family = type(orig).__module__.partition(".")[0]
    if family == "pymysql":
        return bool(orig.args) and orig.args[0] in _MYSQL_TRANSIENT
    if family == "psycopg":
        state = getattr(orig, "sqlstate", None)
        if state:
            return state.startswith(_PG_TRANSIENT_PREFIXES)
        return any(phrase in str(orig) for phrase in _PG_UNREACHABLE)
    if family == "sqlite3":
        return "database is locked" in str(orig)
    return False


def database_message(error: sa.exc.DBAPIError) -> str:
    orig = error.orig
    if type(orig).__module__.startswith("pymysql") and len(orig.args) >= 2:
        return str(orig.args[1])  # (code, message): the message reads better alone
    return str(orig).strip()


def _scrubbed(text: str, url: URL) -> str:
    for secret in sorted(secret_values(url), key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, "********")
    return text


@contextmanager
def database_errors(url: URL, query_timeout: int) -> Iterator[None]:
    """Raise ``DatabaseUnavailable`` (transient) or ``QueueTypeError`` for database failures.

    ``query_timeout`` is the limit a stopped statement ran into, for its message.
    """
    where = shown(url)
    try:
        yield
    except sa.exc.DBAPIError as exc:
        said = _scrubbed(database_message(exc), url)
        if is_timeout(exc):
            raise DatabaseUnavailable(
                f"{where}: the query ran longer than query_timeout_seconds ({query_timeout} s) "
                f"and was stopped ({said}); it is tried again; make it faster (an index on "
                f"filter_field?) or raise query_timeout_seconds"
            ) from exc
        if is_transient(exc):
            raise DatabaseUnavailable(f"{where}: {said}") from exc
        raise QueueTypeError(f"{where}: {said}") from exc
    except sa.exc.TimeoutError as exc:  # no pooled connection came free in time
        raise DatabaseUnavailable(f"{where}: {_scrubbed(str(exc), url)}") from exc
