"""Sorting database failures: worth retrying soon, or for the user to fix.

:data:`ERROR_RULES` is the sqlquery queue type's error table. Its messages carry the
database's own words; the queue type names the URL with its password (and any
secret-looking option) hidden, and masks those secrets wherever the words repeat them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hippo_core.queuetype import ErrorRule, TransientError


class DatabaseUnavailable(TransientError):
    """The database could not be reached, dropped the connection, was busy, or stopped a slow query."""


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


def _driver(error: sa.exc.DBAPIError) -> str:
    """Which driver raised the error underneath: ``pymysql``, ``psycopg``, ``sqlite3``."""
    return type(error.orig).__module__.partition(".")[0]


def _mysql_number(error: sa.exc.DBAPIError) -> Any:
    args = error.orig.args if error.orig is not None else ()
    return args[0] if args else None


def is_timeout(error: sa.exc.DBAPIError) -> bool:
    """The database stopped the statement: it ran longer than ``query_timeout_seconds``."""
    driver = _driver(error)
    if driver == "pymysql":
        return _mysql_number(error) in _MYSQL_STATEMENT_TIMEOUTS
    if driver == "psycopg":
        return getattr(error.orig, "sqlstate", None) == _PG_CANCELED
    if driver == "sqlite3":
        return str(error.orig) == "interrupted"
    return False


def is_transient(error: sa.exc.DBAPIError) -> bool:
    """The database could not be reached, dropped the connection, or was busy."""
    if error.connection_invalidated:
        return True
    driver = _driver(error)
    if driver == "pymysql":
        return _mysql_number(error) in _MYSQL_TRANSIENT
    if driver == "psycopg":
        state = getattr(error.orig, "sqlstate", None)
        if state:
            return bool(state.startswith(_PG_TRANSIENT_PREFIXES))
        return any(phrase in str(error.orig) for phrase in _PG_UNREACHABLE)
    if driver == "sqlite3":
        return "database is locked" in str(error.orig)
    return False


def database_message(error: sa.exc.DBAPIError) -> str:
    """What the database said, without SQLAlchemy's statement and link."""
    orig = error.orig
    if orig is not None and _driver(error) == "pymysql" and len(orig.args) >= 2:
        return str(orig.args[1])  # (code, message): the message reads better alone
    return str(orig).strip()


def _stopped(queue: Any, error: sa.exc.DBAPIError) -> str:
    return (
        f"the query ran longer than query_timeout_seconds ({queue.query_timeout} s) and was "
        f"stopped ({database_message(error)}); it is tried again; make it faster (an index on "
        f"filter_field?) or raise query_timeout_seconds"
    )


ERROR_RULES = (
    ErrorRule(sa.exc.DBAPIError, _stopped, transient=True, when=is_timeout),
    ErrorRule(
        sa.exc.DBAPIError, lambda queue, error: database_message(error), transient=True, when=is_transient
    ),
    ErrorRule(sa.exc.DBAPIError, lambda queue, error: database_message(error)),
    # No pooled connection came free in time.
    ErrorRule(sa.exc.TimeoutError, "{error}", transient=True),
)
