"""Failures against real servers: which are transient, which the user must fix, what they say."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from hippo_core.ports import free_port
from hippo_core.queuetype import QueueTypeError
from hippo_sqlquery import DatabaseUnavailable


@pytest.mark.parametrize(
    "template",
    [
        "postgresql+psycopg://postgres:s3cret@127.0.0.1:{port}/postgres",
        "mysql+pymysql://root:s3cret@127.0.0.1:{port}/test",
        "jdbc:mysql://root:s3cret@127.0.0.1:{port}/test",
    ],
)
def test_nothing_listening_is_transient(make_queue, template):
    queue = make_queue(template.format(port=free_port()), "SELECT 1 AS id", "id")

    with pytest.raises(DatabaseUnavailable) as caught:
        queue.poll(1, None)

    assert queue.is_transient(caught.value)
    assert "s3cret" not in str(caught.value)


def _with(url: str, **parts: str) -> str:
    return make_url(url).set(**parts).render_as_string(hide_password=False)


@pytest.mark.parametrize(
    ("kind", "parts", "reason"),
    [
        # PostgreSQL here trusts local users, so an unknown role is what it refuses
        (
            "postgresql",
            {"username": "hippo_no_such_role", "password": "s3cret"},
            'role "hippo_no_such_role" does not exist',
        ),
        ("postgresql", {"database": "hippo_no_such_db"}, 'database "hippo_no_such_db"'),
        ("mariadb", {"password": "s3cret-but-wrong"}, "Access denied"),
        ("mariadb", {"database": "hippo_no_such_db"}, "Unknown database"),
    ],
)
def test_refused_credentials_and_unknown_databases_are_permanent(request, make_queue, kind, parts, reason):
    url = _with(request.getfixturevalue(f"{kind}_url"), **parts)
    queue = make_queue(url, "SELECT 1 AS id", "id")

    with pytest.raises(QueueTypeError, match=reason) as caught:
        queue.poll(1, None)

    assert not queue.is_transient(caught.value)
    assert "s3cret" not in str(caught.value), "the password must never reach a message"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT id FROM hippo_no_such_table", "hippo_no_such_table"),  # unknown table
        ("SELECT idd FROM (SELECT 1 AS id) AS one", "idd"),  # unknown column
        ("SELECT id FROM (SELECT 1 AS id) AS one WHERE", "syntax"),  # not SQL at all
    ],
)
def test_bad_sql_is_permanent_with_the_databases_message(source, make_queue, query, reason):
    queue = make_queue(source.url, query, "id")

    with pytest.raises(QueueTypeError, match=reason) as caught:
        queue.poll(1, None)

    assert not queue.is_transient(caught.value)
    assert str(caught.value).startswith(make_url(source.url).render_as_string())


def _connections_to(admin: sa.Engine, database: str) -> int:
    with admin.connect() as connection:
        return connection.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db"), {"db": database}
        ).scalar_one()


def test_the_engine_is_reused_across_polls_and_close_releases_it(make_source, make_queue):
    source = make_source("postgresql")
    database = make_url(source.url).database
    queue = make_queue(source.url, "SELECT 1 AS id", "id")

    for _ in range(3):
        queue.poll(1, None)
    pooled = _connections_to(source.engine, database)
    queue.close()

    deadline = time.monotonic() + 30
    while _connections_to(source.engine, database) >= pooled and time.monotonic() < deadline:
        time.sleep(0.05)  # a backend leaves pg_stat_activity shortly after its client
    assert pooled - _connections_to(source.engine, database) == 1
