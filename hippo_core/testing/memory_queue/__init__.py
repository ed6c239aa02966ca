"""Work items held in named lists inside this process: the reference queue type.

It is complete (a settings schema with secrets, a cross-field rule, a cursor, an error
table) yet touches no outside source, so Hippo's own tests and the documentation use
it, and its tests run the shared suites of `hippo_core.testing.suites` the way a
plugin's do. It is not registered as an entry point: build a registry with
`QueueTypeRegistry.of(MemoryQueueType)`, or register it from a distribution of your own
(`memory = "hippo_core.testing.memory_queue:MemoryQueueType"` in the group
`hippo.queuetypes`).

An item is one string of the list `list`, as `MemoryQueueType.push` appended it; the
task sees it unchanged in `HIPPO_DATA`.

## Cursor and custody

Items are read like a log: a list keeps its items, and the queue's cursor is the index
of the next one to read, starting at `start`. So there is nothing to `ack`; storing
the cursor together with the tasks is what takes custody. A crash before that store
reads the same items again from the old cursor.

What resets the cursor: a changed `start` (`initial_cursor`); nothing else
(`source_identity` is `None`).

## Errors

A stored cursor that is not a list index is a permanent error. Nothing is transient.

## Example

```sh
curl -X POST http://localhost:8080/queues/ -H 'Content-Type: application/json' -d '{
  "cmd": "echo $HIPPO_DATA",
  "container": {"docker": {"image": "busybox:1.36"}},
  "queue": {"type": "memory", "name": "demo",
            "memory": {"list": "jobs", "token": "s3cret-token"}}
}'
```
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from hippo_core.queuetype import JSON, ErrorRule, Item, PollResult, QueueType

__all__ = ["MemoryQueueType"]

_lists: dict[str, list[str]] = {}
_lock = threading.Lock()


class MemoryQueueType(QueueType):
    name: ClassVar[str] = "memory"
    label: ClassVar[str] = "In-process list (reference queue type)"
    # The schema is schema.json beside this module.
    error_rules: ClassVar[tuple[ErrorRule, ...]] = (
        # int() of a stored cursor is the only conversion a poll makes.
        ErrorRule((TypeError, ValueError), "the stored cursor is not a list index ({error})"),
    )

    @classmethod
    def push(cls, list_name: str, *items: str) -> None:
        """Append work items to the named list (as a producer would)."""
        with _lock:
            _lists.setdefault(list_name, []).extend(items)

    @classmethod
    def items(cls, list_name: str) -> list[str]:
        with _lock:
            return list(_lists.get(list_name, []))

    @classmethod
    def clear(cls) -> None:
        """Forget every list (tests call this between cases)."""
        with _lock:
            _lists.clear()

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> list[tuple[str, str]]:
        stop = settings.get("stop")
        if stop is not None and stop <= settings["start"]:
            return [("stop", f"must be greater than start ({settings['start']}), or null")]
        return []

    @classmethod
    def initial_cursor(cls, settings: dict[str, Any]) -> JSON:
        return settings["start"]

    def source_name(self) -> str:
        return f"memory list {self.settings['list']!r}"

    def poll(self, limit: int, cursor: JSON) -> PollResult:
        position = self.settings["start"] if cursor is None else int(cursor)
        end = position + limit
        if self.settings.get("stop") is not None:
            end = min(end, self.settings["stop"])
        with _lock:
            found = _lists.get(self.settings["list"], [])[position:end]
        return PollResult([Item(data) for data in found], position + len(found))
