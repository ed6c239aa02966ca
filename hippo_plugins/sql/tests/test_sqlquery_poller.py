"""The poller driving ``sqlquery`` queues against PostgreSQL, MariaDB and an SQLite file: the
shared suite on each database, and connection failures.

Queues are created through QueueService (settings validated, defaults filled) with the
installed queue types and polled by Hippo's Poller into a Store on the test's Redis.
The cursor is custody here: it is stored with the tasks, so nothing runs twice.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from hippo_core.poller import BACKOFF_JITTER
from hippo_core.ports import free_port
from hippo_core.testing.polling import poll_now, state_of
from hippo_core.testing.suites import PollerSuite, QueueSource, SourceFailure
from hippo_sqlquery import SqlQueryQueueType

DEFINITION = {
    "cmd": 'import-order "$HIPPO_DATA"',
    "container": {"docker": {"image": "example/orders:1"}},
}
PASSWORD = "pw-sql-7c2d1e"


def row(n: int) -> str:
    return f'{{"id":{n},"path":"/in/{n}.csv"}}'


class OrdersTable(QueueSource):
    """A table of orders with a growing id, in one of the test databases."""

    queue_type = SqlQueryQueueType
    custody = "cursor"

    def __init__(self, database: Any) -> None:
        self.database = database
        self.table = database.table(
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("path", sa.String(100), nullable=False),
        )
        self.added = 0

    def settings(self) -> dict[str, Any]:
        return {
            "conn_string": self.database.url,
            "query": f"SELECT id, path FROM {self.table.name}",
            "filter_field": "id",
            "connect_timeout": 5,
        }

    def add(self, count: int) -> list[str]:
        ids = range(self.added + 1, self.added + count + 1)
        self.database.insert(self.table, [{"id": n, "path": f"/in/{n}.csv"} for n in ids])
        self.added += count
        return [row(n) for n in ids]

    # With rows present: SQLite reads a quoted name that is no column as a string, so an
    # empty table would hide the missing filter_field.

    def missing_table(self) -> dict[str, Any]:
        self.add(2)
        return {"query": "SELECT id FROM hippo_no_such_table"}

    def unparsable(self) -> dict[str, Any]:
        self.add(2)
        return {"query": f"SELECT id, FROM {self.table.name}"}

    def without_the_filter_field(self) -> dict[str, Any]:
        self.add(2)
        return {"query": f"SELECT path FROM {self.table.name}"}


class TestSqlQueryPoller(PollerSuite):
    batch_separator = "\n"
    failures = (
        SourceFailure("a table that does not exist", OrdersTable.missing_table, "hippo_no_such_table", False),
        SourceFailure("SQL the database cannot parse", OrdersTable.unparsable, "syntax", False),
        SourceFailure("a filter_field the rows lack", OrdersTable.without_the_filter_field, "id", False),
    )

    @pytest.fixture
    def queue_source(self, source: Any) -> OrdersTable:
        return OrdersTable(source)


def _with_password(url: str, password: str, **parts: Any) -> str:
    return make_url(url).set(password=password, **parts).render_as_string(hide_password=False)


CONNECTION_FAILURES = [
    # (what it proves, database, URL parts, what last_error says, seconds until retried)
    ("PostgreSQL not listening: transient", "postgresql", {"port": "free"}, "DatabaseUnavailable", 1),
    ("MariaDB not listening: transient", "mariadb", {"port": "free"}, "DatabaseUnavailable", 1),
    ("MariaDB refusing the password: permanent", "mariadb", {}, "Access denied", 60),
]


@pytest.mark.parametrize(
    ("kind", "parts", "says", "wait"),
    [c[1:] for c in CONNECTION_FAILURES],
    ids=[c[0] for c in CONNECTION_FAILURES],
)
def test_connection_failures_mark_the_queue_without_the_password(
    request, hippo_pollers, hippo_store, hippo_queues, kind, parts, says, wait
):
    parts = {k: free_port() if v == "free" else v for k, v in parts.items()}
    url = _with_password(request.getfixturevalue(f"{kind}_url"), PASSWORD, **parts)
    body = {
        **DEFINITION,
        "queue": {
            "type": "sqlquery",
            "name": "orders",
            "sqlquery": {
                "conn_string": url,
                "query": "SELECT 1 AS id",
                "filter_field": "id",
                "connect_timeout": 5,
            },
        },
    }
    queue_id = hippo_queues.create(body)["id"]

    poll_now(hippo_pollers(), hippo_store, queue_id)

    state = state_of(hippo_store, queue_id)
    assert says in state["last_error"]
    assert PASSWORD not in state["last_error"]
    assert wait * (1 - BACKOFF_JITTER) <= state["next_run_tstamp"] - state["last_run_tstamp"] <= wait
