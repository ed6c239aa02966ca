"""The poller driving ``redis`` queues against a real redis-server: the shared suite.

Queues are polled by Hippo's Poller into a Store on the same server (database 0; the work
lists live in database 5).
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from hippo_core.ports import free_port
from hippo_core.testing.suites import PollerSuite, QueueSource, SourceFailure
from hippo_redis import RedisQueueType

PASSWORD = "pw-redis-4e1f9a"


class RedisListSource(QueueSource):
    """A list producers LPUSH onto; what is left counts the queues' processing lists too."""

    queue_type = RedisQueueType
    custody = "ack"

    def __init__(self, producer: redis.Redis, settings: dict[str, Any]) -> None:
        self.producer = producer
        self.base_settings = settings
        self.list_name: str = settings["name"]
        self.added = 0

    def settings(self) -> dict[str, Any]:
        return dict(self.base_settings)

    def add(self, count: int) -> list[str]:
        # Not only ASCII: the task sees the element's bytes decoded as UTF-8.
        items = [f"bilder/ü-{n:05d}.png" for n in range(self.added, self.added + count)]
        for start in range(0, count, 1000):
            self.producer.lpush(self.list_name, *items[start : start + 1000])
        self.added += count
        return items

    def remaining(self) -> int:
        processing = self.producer.keys(f"{self.list_name}:hippo-processing:*")
        return int(self.producer.llen(self.list_name)) + sum(
            int(self.producer.llen(key)) for key in processing
        )

    def unreachable(self) -> dict[str, Any]:
        return {"port": free_port()}

    def key_of_another_type(self) -> dict[str, Any]:
        self.producer.set(self.list_name, "not a list")
        return {}

    def missing_database(self) -> dict[str, Any]:
        return {"db": 9999}

    def unknown_user(self) -> dict[str, Any]:
        return {"username": "nobody-here", "password": PASSWORD}


class TestRedisPoller(PollerSuite):
    batch_separator = ","
    failures = (
        SourceFailure("nothing listens on the port", RedisListSource.unreachable, "ConnectionError", True),
        SourceFailure("the key holds no list", RedisListSource.key_of_another_type, "WRONGTYPE", False),
        SourceFailure(
            "a database the server does not have",
            RedisListSource.missing_database,
            "DB index is out of range",
            False,
        ),
        SourceFailure(
            "credentials the server refuses", RedisListSource.unknown_user, "refused the credentials", False
        ),
    )

    @pytest.fixture
    def queue_source(self, producer: redis.Redis, settings: dict[str, Any]) -> RedisListSource:
        return RedisListSource(producer, settings)
