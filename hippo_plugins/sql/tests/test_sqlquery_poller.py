"""The poller driving ``sqlquery`` queues against PostgreSQL, MariaDB and an SQLite file.

Queues are created through QueueService (settings validated, defaults filled) with the
installed queue types and polled by Hippo's Poller into a Store on the test's Redis.
The cursor is custody here: it is stored with the tasks, so nothing runs twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import falcon.testing
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from hippo_core.api import create_app
from hippo_core.config import Config
from hippo_core.launch import task_environment
from hippo_core.ports import free_port
from hippo_core.queues import QueueService
from hippo_core.testing.polling import data_of, poll_now, state_of, stored_queue, tasks_of

DEFINITION = {
    "cmd": 'import-order "$HIPPO_DATA"',
    "container": {"docker": {"image": "example/orders:1"}},
    "env": {"SHOP": "test"},
    "mem": 128,
}
PASSWORD = "pw-sql-7c2d1e"


@pytest.fixture
def orders(source) -> sa.Table:
    return source.table(
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("path", sa.String(100), nullable=False),
    )


@pytest.fixture
def add(source, orders: sa.Table) -> Callable[..., None]:
    """``add(first, last)``: rows ``first..last`` (``path`` = ``/in/<id>.csv``)."""

    def insert(first: int, last: int) -> None:
        source.insert(orders, [{"id": n, "path": f"/in/{n}.csv"} for n in range(first, last + 1)])

    return insert


@pytest.fixture
def create(hippo_queues: QueueService, source, orders: sa.Table) -> Callable[..., str]:
    """``create(sqlquery={...overrides}, **queue_block)``: a queue on the orders table; its id."""

    def make(sqlquery: dict[str, Any] | None = None, **block: Any) -> str:
        settings = {
            "conn_string": source.url,
            "query": f"SELECT id, path FROM {orders.name}",
            "filter_field": "id",
            "connect_timeout": 5,
            **(sqlquery or {}),
        }
        body = {**DEFINITION, "queue": {"type": "sqlquery", "name": "orders", "sqlquery": settings, **block}}
        return hippo_queues.create(body)["id"]

    return make


def row(n: int) -> str:
    return f'{{"id":{n},"path":"/in/{n}.csv"}}'


def test_rows_become_tasks_of_the_queue(hippo_pollers, hippo_store, create, add):
    queue_id = create()
    add(1, 3)

    poll_now(hippo_pollers(), hippo_store, queue_id)

    tasks = tasks_of(hippo_store, queue_id)
    assert sorted(task_environment(t)["HIPPO_DATA"] for t in tasks) == [row(1), row(2), row(3)]
    for task in tasks:
        assert (task["id"], task["queue_id"], task["state"]) == (queue_id, queue_id, "PENDING")
        assert task["cmd"] == DEFINITION["cmd"]
        assert task["container"]["docker"]["image"] == "example/orders:1"
        assert task_environment(task)["SHOP"] == "test"
        assert task["mem"] == 128
    assert state_of(hippo_store, queue_id)["cursor"] == 3


def test_seven_rows_in_batches_of_three_make_three_tasks(hippo_pollers, hippo_store, create, add):
    queue_id = create(batch_size=3, batch_separator="\n")
    add(1, 7)

    poll_now(hippo_pollers(), hippo_store, queue_id)

    assert data_of(hippo_store, queue_id) == sorted(
        ["\n".join([row(1), row(2), row(3)]), "\n".join([row(4), row(5), row(6)]), row(7)]
    )


def test_a_new_poller_carries_on_from_the_stored_cursor(hippo_pollers, hippo_store, create, add):
    queue_id = create(sqlquery={"filter_val": 1})
    add(1, 3)
    first = hippo_pollers()
    poll_now(first, hippo_store, queue_id)
    first.stop()  # a worker restart: the plugin instance and its engine are gone
    add(4, 5)

    poll_now(hippo_pollers(), hippo_store, queue_id)

    assert data_of(hippo_store, queue_id) == [row(n) for n in (2, 3, 4, 5)]
    assert state_of(hippo_store, queue_id)["cursor"] == 5


def test_a_crash_before_the_ack_runs_nothing_twice(hippo_pollers, hippo_store, create, add):
    queue_id = create()
    add(1, 4)
    crashed = hippo_pollers()
    crashed.take(*stored_queue(hippo_store, queue_id))  # ... and no ack()
    del crashed
    add(5, 6)

    poll_now(hippo_pollers(), hippo_store, queue_id)

    assert Counter(data_of(hippo_store, queue_id)) == Counter(row(n) for n in range(1, 7))


def test_a_disabled_queue_does_not_move_until_enabled(hippo_pollers, hippo_store, hippo_queues, create, add):
    queue_id = create(frequency_seconds=0)
    add(1, 2)
    poller = hippo_pollers()
    poll_now(poller, hippo_store, queue_id)
    hippo_queues.toggle(queue_id)
    add(3, 4)

    assert poller.due_queues() == []
    assert state_of(hippo_store, queue_id)["cursor"] == 2

    hippo_queues.toggle(queue_id)
    [(queue, state)] = poller.due_queues()
    poller.poll(queue, state)
    assert data_of(hippo_store, queue_id) == [row(n) for n in range(1, 5)]
    assert state_of(hippo_store, queue_id)["cursor"] == 4


def test_backpressure_takes_five_of_ten_thousand_rows(hippo_pollers, hippo_store, create, add):
    queue_id = create(max_concurrent=5)
    add(1, 10_000)
    poller = hippo_pollers()

    poll_now(poller, hippo_store, queue_id)
    poll_now(poller, hippo_store, queue_id)  # the five slots are still taken: nothing more

    assert data_of(hippo_store, queue_id) == [row(n) for n in range(1, 6)]
    assert state_of(hippo_store, queue_id)["cursor"] == 5


BAD_SQL = [
    # (what it proves, query with {table}, what last_error says)
    ("a table that does not exist", "SELECT id FROM hippo_no_such_table", "hippo_no_such_table"),
    ("SQL the database cannot parse", "SELECT id, FROM {table}", "syntax"),
    ("a filter_field the rows lack", "SELECT path FROM {table}", "id"),
]


@pytest.mark.parametrize(("query", "says"), [c[1:] for c in BAD_SQL], ids=[c[0] for c in BAD_SQL])
def test_bad_sql_marks_the_queue_and_backs_off_from_the_frequency(
    hippo_pollers, hippo_store, create, orders, add, query, says
):
    # With rows present: SQLite reads a quoted name that is no column as a string, so an
    # empty table would hide the missing filter_field.
    add(1, 2)
    queue_id = create(sqlquery={"query": query.format(table=orders.name)}, frequency_seconds=120)

    poll_now(hippo_pollers(), hippo_store, queue_id)  # does not raise

    state = state_of(hippo_store, queue_id)
    assert state["last_error"].startswith("poll failed: QueueTypeError: ")
    assert says in state["last_error"].lower()
    assert state["next_run_tstamp"] - state["last_run_tstamp"] == 120
    assert tasks_of(hippo_store, queue_id) == []


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
    assert state["next_run_tstamp"] - state["last_run_tstamp"] == wait


README_BODY = {
    "cmd": 'import-order "$HIPPO_DATA"',
    "container": {"docker": {"image": "example/orders:1"}},
    "queue": {
        "type": "sqlquery",
        "name": "new orders",
        "frequency_seconds": 30,
        "sqlquery": {
            "conn_string": "postgresql+psycopg://hippo:s3cret@db.internal:5432/shop",
            "query": "SELECT id, customer, total FROM orders WHERE paid_at IS NOT NULL",
            "filter_field": "id",
            "filter_val": 1000,
        },
    },
}


def test_the_readme_example_creates_a_queue(hippo_store, hippo_queuetypes):
    client = falcon.testing.TestClient(create_app(Config(), hippo_store, hippo_queuetypes))

    resp = client.simulate_post("/queues/", json=README_BODY)

    assert resp.status_code == 201, resp.text
    shown = resp.json["queue"]["sqlquery"]
    assert shown["conn_string"] == "postgresql+psycopg://hippo:********@db.internal:5432/shop"
    assert resp.json["queue"]["cursor"] is None
