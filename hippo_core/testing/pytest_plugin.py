"""pytest fixtures for Hippo and its plugins; loaded automatically with ``hippo-core``.

- ``redis_server`` (session): a private ``redis-server`` on a free port.
- ``redis_url`` (function): its URL, with the database flushed before each test.
- ``redis_client`` (function): a ``redis.Redis`` on it (``decode_responses=True``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from hippo_core.testing.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        client.close()
