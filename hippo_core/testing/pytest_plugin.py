"""pytest fixtures for Hippo and its plugins; loaded automatically with ``hippo-core``.

Servers, each started once per session. ``redis-server`` comes with hippo-core; a test
needing a database server that is missing is skipped with the reason (failed instead
when ``HIPPO_TEST_REQUIRE_SERVERS=1``). ``moto_server`` and the other fixtures of AWS
queue types come with ``hippo-aws`` (:mod:`hippo_aws.testing.pytest_plugin`).

- ``redis_server`` (session): a private ``redis-server`` on a free port.
- ``redis_url`` (function): its URL, with the database flushed before each test.
- ``redis_client`` (function): a ``redis.Redis`` on it (``decode_responses=True``).
- ``postgresql_url``, ``mariadb_url`` (session): SQLAlchemy URLs of throw-away databases
  (:mod:`hippo_core.testing.sql_servers`; needs ``sqlalchemy`` and the drivers).
- ``docker_engine`` (session): a private ``dockerd`` with a ``busybox:latest`` image made
  offline (:mod:`hippo_core.testing.docker`; needs root, ``docker.io`` and
  ``busybox-static``); ``DOCKER_HOST`` of a client that reaches it is ``docker_engine.host``.

``hippo up`` as a user runs it:

- ``hippo_up`` (function): ``hippo_up(data_dir=None, env=None, ...)`` starts ``hippo up``
  in a session of its own with HOME and data under the test's temporary directory
  (:mod:`hippo_core.testing.hippo_up`); whatever a test leaves running is stopped after it.

Hippo on the test's Redis, for running a queue type under the Poller:

- ``hippo_store`` (function): a Store on ``redis_url``.
- ``hippo_queuetypes`` (module): the installed queue types, found the way ``hippo
  worker`` finds them. A test module (or conftest) defining its own ``hippo_queuetypes``
  gives the fixtures below other queue types (a test double, one not installed).
- ``hippo_queues`` (function): the QueueService (create, update, toggle, delete queues).
- ``hippo_pollers`` (function): ``hippo_pollers(**options)`` makes a Poller on the
  store (each with its own queue-type instances); all are stopped after the test.
  :mod:`hippo_core.testing.polling` drives them and reads back the tasks.

- ``hippo_events`` (function): every :class:`hippo_core.events.Event` published in this
  process while the test runs, in order (a list that fills as they come).

A queue type on its own:

- ``hippo_instances`` (function): ``hippo_instances(QueueTypeClass, settings, queue_id=None)``
  builds an instance from settings as given (checked and filled by nothing), closed
  after the test. :mod:`hippo_core.testing.plugin_settings` fills settings first.

The suites of :mod:`hippo_core.testing.suites` are built on these fixtures.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hippo_core import events
from hippo_core.events import Event
from hippo_core.poller import Poller
from hippo_core.queues import QueueService
from hippo_core.queuetype import QueueType
from hippo_core.redis_server import RedisClient, RedisServer
from hippo_core.registry import QueueTypeRegistry
from hippo_core.store import Store
from hippo_core.testing.docker import DockerEngine, EngineUnavailable
from hippo_core.testing.hippo_up import Up, UpStarter
from hippo_core.testing.skips import server_unavailable

Q = TypeVar("Q", bound=QueueType)

# Before any test imports it: its failing checks then show their values, as in a test module.
pytest.register_assert_rewrite("hippo_core.testing.plugin_settings", "hippo_core.testing.suites")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def redis_client(redis_server: RedisServer, redis_url: str) -> Iterator[RedisClient]:
    client = redis_server.client(decode_responses=True)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    # Imported here: sqlalchemy is a dependency of the SQL plugin's tests, not of hippo-core.
    from hippo_core.testing import sql_servers

    yield from sql_servers.postgres_database()


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    from hippo_core.testing import sql_servers

    yield from sql_servers.mariadb_database()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    engine = DockerEngine()
    try:
        engine.start()
    except EngineUnavailable as exc:
        server_unavailable(f"no Docker engine for the tests: {exc}")
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture
def hippo_up(tmp_path: Path) -> Iterator[Callable[..., Up]]:
    starter = UpStarter(tmp_path)
    try:
        yield starter.start
    finally:
        starter.stop_all()


@pytest.fixture
def hippo_store(redis_url: str) -> Iterator[Store]:
    store = Store.from_url(redis_url)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="module")
def hippo_queuetypes() -> QueueTypeRegistry:
    return QueueTypeRegistry()


@pytest.fixture
def hippo_queues(hippo_store: Store, hippo_queuetypes: QueueTypeRegistry) -> QueueService:
    return QueueService(hippo_store, hippo_queuetypes)


@pytest.fixture
def hippo_pollers(hippo_store: Store, hippo_queuetypes: QueueTypeRegistry) -> Iterator[Callable[..., Poller]]:
    made: list[Poller] = []

    def make(**options: Any) -> Poller:
        made.append(Poller(hippo_store, hippo_queuetypes, **options))
        return made[-1]

    yield make
    for poller in made:
        poller.stop()


@pytest.fixture
def hippo_events() -> Iterator[list[Event]]:
    seen: list[Event] = []
    unsubscribe = events.subscribe(seen.append)
    try:
        yield seen
    finally:
        unsubscribe()


@pytest.fixture
def hippo_instances() -> Iterator[Callable[..., Any]]:
    built: list[QueueType] = []

    def make(queue_type: type[Q], settings: dict[str, Any], queue_id: str | None = None) -> Q:
        instance = queue_type(settings, queue_id or f"q-{uuid.uuid4().hex[:8]}")
        built.append(instance)
        return instance

    yield make
    for instance in built:
        instance.close()
