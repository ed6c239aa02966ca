"""Real databases for the sqlquery tests: PostgreSQL, MariaDB and an SQLite file.

Each server gets one throw-away database per test session: ``postgresql_url`` and
``mariadb_url`` come from ``hippo_core.testing.pytest_plugin``. Each test creates its own
uniquely named tables there and drops them afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from hippo_sqlquery import SqlQueryQueueType


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('sqlquery') / 'hippo.db'}"


class Source:
    """A database under test: makes tables with unique names and fills them."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url
        self.engine = sa.create_engine(url)
        self.metadata = sa.MetaData()

    def table(self, *columns: sa.Column[Any]) -> sa.Table:
        table = sa.Table(f"t_{uuid.uuid4().hex[:12]}", self.metadata, *columns)
        table.create(self.engine)
        return table

    def insert(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as connection:
            connection.execute(table.insert(), rows)

    def has_table(self, table: sa.Table) -> bool:
        return sa.inspect(self.engine).has_table(table.name)

    def close(self) -> None:
        self.metadata.drop_all(self.engine, checkfirst=True)
        self.engine.dispose()


@pytest.fixture
def make_source(request: pytest.FixtureRequest) -> Iterator[Callable[[str], Source]]:
    """``make_source(kind)``: a Source on the session's database of that kind."""
    made: list[Source] = []

    def make(kind: str) -> Source:
        source = Source(kind, request.getfixturevalue(f"{kind}_url"))
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def source(request: pytest.FixtureRequest, make_source: Callable[[str], Source]) -> Source:
    return make_source(request.param)


@pytest.fixture
def make_queue(hippo_instances: Callable[..., Any]) -> Callable[..., SqlQueryQueueType]:
    """Build queue-type instances with defaults filled; all are closed afterwards."""

    def make(conn_string: str, query: str, filter_field: str, **extra: Any) -> SqlQueryQueueType:
        settings = {
            "conn_string": conn_string,
            "query": query,
            "filter_field": filter_field,
            "filter_val": "",
            "connect_timeout": 5,
            **extra,
        }
        assert SqlQueryQueueType.validate(settings) == []
        return hippo_instances(SqlQueryQueueType, settings, f"q-{uuid.uuid4().hex}")

    return make
