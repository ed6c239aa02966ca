"""Throw-away databases on a real PostgreSQL or MariaDB server, for tests.

The servers are found through environment variables holding SQLAlchemy URLs of an
account allowed to create databases:

- ``HIPPO_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``)
- ``HIPPO_TEST_MARIADB_URL`` (default ``mysql+pymysql://root@127.0.0.1:3306/test``)

:func:`throwaway_database` creates a database with a unique name there, yields its URL
and drops it afterwards. :func:`postgres_database` and :func:`mariadb_database` wrap it
for pytest fixtures: when the server cannot be reached the test is skipped with the
reason, unless ``HIPPO_TEST_REQUIRE_SERVERS=1`` (as CI sets), in which case it fails::

    @pytest.fixture(scope="session")
    def postgresql_url() -> Iterator[str]:
        yield from sql_servers.postgres_database()

``hippo_core.testing.pytest_plugin`` offers exactly these as ``postgresql_url`` and
``mariadb_url``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from hippo_core.testing.skips import server_unavailable

POSTGRES_URL_ENV = "HIPPO_TEST_POSTGRES_URL"
MARIADB_URL_ENV = "HIPPO_TEST_MARIADB_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
CONNECT_TIMEOUT_SECONDS = 5


class ServerUnavailable(Exception):
    """The database server could not be reached (or refused the test account)."""


def postgres_admin_url() -> str:
    return os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL


def mariadb_admin_url() -> str:
    return os.environ.get(MARIADB_URL_ENV) or DEFAULT_MARIADB_URL


def unique_database_name(prefix: str = "hippo_test") -> str:
    """A name no other test session picks: lower case, so every server keeps it as given."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"


def _admin_engine(admin_url: URL) -> sa.Engine:
    # Both drivers take ``connect_timeout`` in seconds; a dead host must not hang the session.
    return sa.create_engine(
        admin_url,
        isolation_level="AUTOCOMMIT",  # CREATE/DROP DATABASE refuse to run in a transaction
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        poolclass=sa.pool.NullPool,
    )


def _drop_statement(engine: sa.Engine, quoted: str) -> str:
    if engine.dialect.name == "postgresql":
        # FORCE ends sessions a failed test may have left open on the database.
        return f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"
    return f"DROP DATABASE IF EXISTS {quoted}"


@contextmanager
def throwaway_database(admin_url: str, prefix: str = "hippo_test") -> Iterator[str]:
    """Create a uniquely named database on ``admin_url``'s server; yield its URL; drop it.

    Raises :class:`ServerUnavailable` (with the server's or driver's reason) when no
    connection can be made; any other failure (no right to create databases) propagates.
    """
    url = make_url(admin_url)
    safe = url.render_as_string(hide_password=True)
    engine = _admin_engine(url)
    name = unique_database_name(prefix)
    quoted = engine.dialect.identifier_preparer.quote_identifier(name)
    try:
        try:
            connection = engine.connect()
        except sa.exc.OperationalError as exc:
            raise ServerUnavailable(f"cannot connect to {safe}: {exc.orig}") from exc
        with connection:
            connection.exec_driver_sql(f"CREATE DATABASE {quoted}")
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as connection:
                connection.exec_driver_sql(_drop_statement(engine, quoted))
    finally:
        engine.dispose()


def database_or_skip(admin_url: str, env_name: str) -> Iterator[str]:
    """:func:`throwaway_database` for a pytest fixture: skip (or fail when required) if unreachable."""
    try:
        with throwaway_database(admin_url) as url:
            yield url
            return
    except ServerUnavailable as exc:
        reason = f"{exc} (set {env_name} to point at a server)"
    server_unavailable(reason)


def postgres_database() -> Iterator[str]:
    """A throw-away PostgreSQL database's URL, for a pytest fixture."""
    yield from database_or_skip(postgres_admin_url(), POSTGRES_URL_ENV)


def mariadb_database() -> Iterator[str]:
    """A throw-away MariaDB (or MySQL) database's URL, for a pytest fixture."""
    yield from database_or_skip(mariadb_admin_url(), MARIADB_URL_ENV)
