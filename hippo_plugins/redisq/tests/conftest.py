"""Fixtures for the redis queue type: a private redis-server, a database other than 0."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from hippo_core.redis_server import RedisServer
from hippo_redis import RedisQueueType

TEST_DB = 5


@pytest.fixture
def list_name() -> str:
    return f"jobs-{uuid.uuid4().hex}"


@pytest.fixture
def producer(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client on the test database, standing in for whoever pushes work."""
    client = redis.Redis(port=redis_server.port, db=TEST_DB)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def settings(redis_server: RedisServer, list_name: str) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": redis_server.port,
        "db": TEST_DB,
        "name": list_name,
        "username": "",
        "password": "",
    }


@pytest.fixture
def make_queue(
    settings: dict[str, Any], hippo_instances: Callable[..., Any]
) -> Callable[..., RedisQueueType]:
    """Build queue-type instances (closed at the end); same queue id unless told otherwise."""
    default_id = f"q-{uuid.uuid4().hex}"

    def make(queue_id: str = default_id, **overrides: Any) -> RedisQueueType:
        return hippo_instances(RedisQueueType, {**settings, **overrides}, queue_id)

    return make
