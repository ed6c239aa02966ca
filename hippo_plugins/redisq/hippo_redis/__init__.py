"""Redis list queue type (`redis`): work items popped reliably off a Redis list.

An item is one element of the list `name`; the task sees the element's bytes, decoded
as UTF-8, in `HIPPO_DATA` (bytes that are not valid UTF-8 become U+FFFD). Needs Redis
6.2 or newer (`LMOVE`).

## Order

Producers `LPUSH` new work onto the head of the list, so the oldest element sits at the
tail. Hippo pops from the tail (`RIGHT`), which makes the queue first in, first out. (A
producer using `RPUSH` gets last in, first out.)

## Custody

Every element is moved atomically with `LMOVE name <processing> RIGHT LEFT` into a
processing list that belongs to this Hippo queue alone,
`<name>:hippo-processing:<queue id>`, and `ack` removes exactly the acknowledged
elements from it (`LREM` of one occurrence each). A poll first hands out again whatever
is still in the processing list (oldest first) -- elements a crashed worker took but
never acknowledged -- and only then moves new ones. So a crash between poll and ack
runs those elements again; none is lost. Two Hippo queues reading one list each get
their own processing list and share the elements between them. When a queue is
deleted, elements still in its processing list stay there; push them back with
`LMOVE <processing> <name> RIGHT RIGHT` until it is empty.

There is no cursor (`PollResult.cursor` is `None`).

## Errors

A refused or dropped connection, a timeout, a server loading its data set or a
read-only replica (during a failover) are transient. Refused credentials, a database
number the server does not have, a key that holds something other than a list, or
missing ACL permissions raise `QueueTypeError`. Every message names the server and
database (`redis://host:port/db`).

## Example

```sh
curl -X POST http://localhost:8080/queues/ -H 'Content-Type: application/json' -d '{
  "cmd": "echo $HIPPO_DATA",
  "container": {"docker": {"image": "busybox:1.36"}},
  "queue": {"type": "redis", "name": "thumbnails",
            "redis": {"host": "redis.internal", "db": 2, "name": "thumbnail-jobs",
                      "password": "s3cret"}}
}'
```
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from hippo_core.queuetype import Endpoint, ErrorRule, Item, PollResult, QueueType

__all__ = ["RedisQueueType", "processing_list_name"]

CONNECT_TIMEOUT_SECONDS = 10
COMMAND_TIMEOUT_SECONDS = 30


def processing_list_name(name: str, queue_id: str) -> str:
    """The key of the processing list where one Hippo queue keeps the elements it took."""
    return f"{name}:hippo-processing:{queue_id}"


class RedisQueueType(QueueType):
    name: ClassVar[str] = "redis"
    label: ClassVar[str] = "Redis list"
    # redis-py's subclasses come before their bases: an AuthenticationError is a
    # ConnectionError, a ReadOnlyError a ResponseError.
    error_rules: ClassVar[tuple[ErrorRule, ...]] = (
        ErrorRule(redis.AuthenticationError, "refused the credentials: {error}"),
        ErrorRule(
            redis.ReadOnlyError, "is a read-only replica, as during a failover ({error})", transient=True
        ),
        # WRONGTYPE, NOPERM, "DB index is out of range": nothing a retry would change.
        ErrorRule(redis.ResponseError, "refused a command on list {queue.list_name!r}: {error}"),
        ErrorRule((redis.ConnectionError, redis.TimeoutError), transient=True),
    )

    def __init__(self, settings: dict[str, Any], queue_id: str) -> None:
        super().__init__(settings, queue_id)
        self.list_name: str = settings["name"]
        self.processing_name = processing_list_name(self.list_name, queue_id)
        self.client = redis.Redis(
            host=settings["host"],
            port=settings["port"],
            db=settings["db"],
            username=settings["username"] or None,
            password=settings["password"] or None,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_timeout=COMMAND_TIMEOUT_SECONDS,
            # One quick retry survives a dropped idle connection; longer outages are
            # the poller's to back off from, not ours to sit through.
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.1), 1),
        )

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> list[tuple[str, str]]:
        if settings.get("username") and not settings.get("password"):
            return [("$.password", "an ACL username needs its password")]
        return []

    @classmethod
    def source_endpoints(cls, settings: dict[str, Any]) -> list[Endpoint]:
        return [Endpoint("host", host=settings["host"], port=settings["port"], database=str(settings["db"]))]

    def source_name(self) -> str:
        return f"redis://{self.settings['host']}:{self.settings['port']}/{self.settings['db']}"

    def poll(self, limit: int, cursor: Any) -> PollResult:
        receipts = self._unacknowledged(limit)
        if len(receipts) < limit:
            receipts += self._move_new(limit - len(receipts))
        return PollResult([Item(data=_text(value), receipt=value) for value in receipts])

    def ack(self, items: list[Item]) -> None:
        if not items:
            return
        pipe = self.client.pipeline(transaction=True)
        for item in items:
            # -1: the occurrence nearest the tail, i.e. the oldest of equal elements.
            pipe.lrem(self.processing_name, -1, item.receipt)
        pipe.execute()

    def close(self) -> None:
        self.client.close()

    def _unacknowledged(self, limit: int) -> list[bytes]:
        """Up to ``limit`` elements left in the processing list, oldest (the tail) first."""
        # Without decode_responses, redis-py answers bytes.
        values = cast(list[bytes], self.client.lrange(self.processing_name, -limit, -1))
        return values[::-1]

    def _move_new(self, wanted: int) -> list[bytes]:
        """Move up to ``wanted`` elements from the list's tail to the processing list."""
        count = min(wanted, self.client.llen(self.list_name))
        if count <= 0:
            return []
        pipe = self.client.pipeline(transaction=False)
        for _ in range(count):
            pipe.lmove(self.list_name, self.processing_name, "RIGHT", "LEFT")
        # None: another consumer emptied the list meanwhile.
        return [value for value in pipe.execute() if value is not None]


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")
