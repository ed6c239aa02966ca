"""The ``sqlquery`` queue type: rows of a SELECT above a cursor, in filter_field order."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, RowMapping
from sqlalchemy.sql import quoted_name
from sqlalchemy.types import NullType

from hippo_core.queuetype import (
    JSON,
    Endpoint,
    ErrorRule,
    Item,
    PollResult,
    QueueType,
    QueueTypeError,
    TransientError,
)
from hippo_sqlquery import urls
from hippo_sqlquery.deadlines import READ_MARGIN, statement_deadline
from hippo_sqlquery.errors import ERROR_RULES, DatabaseUnavailable
from hippo_sqlquery.rows import cursor_value, row_json

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Each driver's name for "give up connecting after this many seconds".
_CONNECT_TIMEOUT_ARGUMENT = {
    "postgresql": "connect_timeout",
    "mysql": "connect_timeout",
    "mariadb": "connect_timeout",
    "sqlite": "timeout",
}
# ... and for "give up waiting for an answer after this many seconds".
_READ_TIMEOUT_ARGUMENT = {"mysql": "read_timeout", "mariadb": "read_timeout"}
_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)


def query_problem(query: str) -> str | None:
    """Why ``query`` cannot be the source of a queue; ``None`` when it looks like a SELECT."""
    body = _LEADING_COMMENTS.sub("", query).lstrip("( \t\r\n")
    words = body.split(None, 1)  # none when only whitespace lstrip leaves (a no-break space) remains
    first_word = words[0].lower() if words else ""
    if first_word not in ("select", "with"):
        return "must be a SELECT query (or WITH ... SELECT)"
    return None


def _as_derived_table(query: str) -> str:
    """``query`` ready to sit inside ``( ... ) AS hippo_rows``."""
    body = query.strip().rstrip(";").rstrip()
    # SQLAlchemy reads ":name" as a bind parameter; the user's SQL has none, so every
    # colon (casts, times in literals) is literal. The newline ends a trailing
    # "-- comment" before the closing parenthesis.
    return body.replace(":", r"\:") + "\n"


def normalized_query(query: str) -> str:
    """``query`` with its layout ignored: whitespace runs as one space, no trailing ``;``."""
    return " ".join(query.strip().rstrip(";").split())


def _connect_args(url: URL, connect_timeout: int, query_timeout: int) -> dict[str, Any]:
    backend = url.get_backend_name()
    wanted = {
        _CONNECT_TIMEOUT_ARGUMENT.get(backend): connect_timeout,
        _READ_TIMEOUT_ARGUMENT.get(backend): query_timeout + READ_MARGIN,
    }
    # The URL's own setting wins.
    return {name: value for name, value in wanted.items() if name and name not in url.query}


class SqlQueryQueueType(QueueType):
    name: ClassVar[str] = "sqlquery"
    label: ClassVar[str] = "SQL query"
    error_rules: ClassVar[tuple[ErrorRule, ...]] = ERROR_RULES
    transient_error: ClassVar[type[TransientError]] = DatabaseUnavailable

    def __init__(self, settings: dict[str, Any], queue_id: str) -> None:
        super().__init__(settings, queue_id)
        try:
            self.url = urls.engine_url(settings["conn_string"])
        except ValueError as exc:
            raise QueueTypeError(f"conn_string: {exc}") from None
        self.filter_field: str = settings["filter_field"]
        # Queues stored before the setting existed have no value for it.
        self.query_timeout: int = settings.get("query_timeout_seconds", _default_query_timeout())
        self.engine = sa.create_engine(
            self.url,
            pool_pre_ping=True,  # a connection the server dropped while idle is replaced
            pool_recycle=1800,
            connect_args=_connect_args(self.url, settings["connect_timeout"], self.query_timeout),
        )
        self._rows = sa.text(_as_derived_table(settings["query"])).columns().subquery("hippo_rows")
        self._column: sa.ColumnClause[Any] = sa.column(quoted_name(self.filter_field, quote=True))

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> list[tuple[str, str]]:
        errors = []
        try:
            url = urls.engine_url(settings["conn_string"])
        except ValueError as exc:
            errors.append(("$.conn_string", str(exc)))
        else:
            if problem := urls.secrecy_problem(settings["conn_string"], url):
                errors.append(("$.conn_string", problem))
        if problem := query_problem(settings["query"]):
            errors.append(("$.query", problem))
        if not IDENTIFIER.fullmatch(settings["filter_field"]):
            errors.append(
                (
                    "$.filter_field",
                    f"must be a plain column name (letters, digits and _, not starting with a "
                    f"digit), not {settings['filter_field']!r}",
                )
            )
        return errors

    @classmethod
    def initial_cursor(cls, settings: dict[str, Any]) -> Any:
        value = settings.get("filter_val", "")
        return None if value == "" else value

    @classmethod
    def source_identity(cls, settings: dict[str, Any]) -> JSON:
        return {
            "database": urls.database_identity(settings["conn_string"]),
            "query": normalized_query(settings["query"]),
            "filter_field": settings["filter_field"],
        }

    @classmethod
    def source_endpoints(cls, settings: dict[str, Any]) -> list[Endpoint]:
        try:
            host, port, path = urls.endpoint(settings["conn_string"])
        except ValueError:
            return []  # validate() refuses it
        if path is not None:
            return [Endpoint("conn_string", path=path)]
        return [Endpoint("conn_string", host=host, port=port)]

    def source_name(self) -> str:
        return urls.shown(self.url)

    def secret_values(self) -> list[str]:
        # Beside the password Hippo masks, options that look secret (?sslpassword=).
        return [*super().secret_values(), *urls.secret_values(self.url)]

    def poll(self, limit: int, cursor: Any) -> PollResult:
        with self.engine.connect() as connection, statement_deadline(connection, self.query_timeout):
            # One row past the limit shows whether the limit cuts through a run of
            # rows sharing one filter value.
            rows = connection.execute(self._newer_than(cursor).limit(limit + 1)).mappings().all()
            taken = self._whole_runs(connection, rows, limit)
        if not taken:
            return PollResult([], cursor)
        try:
            last = cursor_value(self._filter_value(taken[-1]))
        except TypeError as exc:
            raise QueueTypeError(f"{self.source_name()}: filter_field {self.filter_field!r}: {exc}") from None
        return PollResult([Item(data=row_json(row)) for row in taken], last)

    def close(self) -> None:
        self.engine.dispose()

    def _select(self) -> sa.Select[Any]:
        return sa.select(sa.literal_column("*")).select_from(self._rows)

    def _newer_than(self, cursor: Any) -> sa.Select[Any]:
        condition: sa.ColumnElement[bool]
        if cursor is None:
            condition = self._column.is_not(None)
        else:
            # NullType: no cast is rendered, so the database converts ISO text to its
            # own time types the way it converts a literal.
            condition = self._column > sa.bindparam("hippo_cursor", cursor, type_=NullType())
        return self._select().where(condition).order_by(self._column)

    def _whole_runs(
        self, connection: sa.Connection, rows: Sequence[RowMapping], limit: int
    ) -> Sequence[RowMapping]:
        """At most ``limit`` of ``rows`` without splitting a filter value between polls.

        A run cut in two would lose its second half: the cursor moves past the value.
        So a cut run is left for the next poll; only when one run alone exceeds the
        limit is it taken whole, beyond the limit, since the queue could not move on.
        """
        if len(rows) <= limit:
            return rows
        boundary = self._filter_value(rows[limit])
        before = [row for row in rows[:limit] if self._filter_value(row) != boundary]
        if before:
            return before
        run = self._select().where(self._column == sa.bindparam("hippo_run", boundary, type_=NullType()))
        return connection.execute(run).mappings().all()

    def _filter_value(self, row: RowMapping) -> Any:
        try:
            return row[self.filter_field]
        except KeyError:
            columns = ", ".join(str(key) for key in row) or "none"
            raise QueueTypeError(
                f"{self.source_name()}: the query's rows have no column {self.filter_field!r} "
                f"(filter_field); they have: {columns}"
            ) from None


def _default_query_timeout() -> int:
    return int(SqlQueryQueueType.schema["properties"]["query_timeout_seconds"]["default"])
