"""Queue type ``memory``: work items held in named lists inside this process.

The reference queue type. It is complete (settings schema with secrets, a
cross-field rule, a cursor) yet touches no outside source, so Hippo's own tests and
the documentation use it. It is not registered as an entry point: build a registry
with ``QueueTypeRegistry.of(MemoryQueueType)``, or register it from a distribution
of your own (``memory = hippo_core.testing.memory_queue:MemoryQueueType`` in the
group ``hippo.queuetypes``).

Items are read like a log: a list keeps its items, and the queue's cursor is the
index of the next one to read. So there is nothing to ``ack``; storing the cursor
together with the tasks is what takes custody.

Settings (the ``memory`` block of a queue):

=========  ==========  ===========================================================
setting    default     meaning
=========  ==========  ===========================================================
list       (required)  name of the in-process list to read, 1-100 characters
start      ``0``       index of the first item to read (the initial cursor), >= 0
stop       ``null``    index to stop before; ``null`` reads on forever; > start
token      ``""``      secret (masked whole by the API); 8+ characters when given
url        ``""``      ``memory://user:password@host/...``; its password is masked
=========  ==========  ===========================================================

``token`` and ``url`` do nothing: they exist to show how secrets are declared.

Creating such a queue::

    curl -X POST http://localhost:8080/queues/ -H 'Content-Type: application/json' -d '{
      "cmd": "echo $HIPPO_DATA",
      "container": {"docker": {"image": "busybox:1.36"}},
      "queue": {"type": "memory", "name": "demo",
                "memory": {"list": "jobs", "token": "s3cret-token"}}
    }'
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from hippo_core.queuetype import JSON, Item, PollResult, QueueType

__all__ = ["MemoryQueueType"]

_lists: dict[str, list[str]] = {}
_lock = threading.Lock()


class MemoryQueueType(QueueType):
    name: ClassVar[str] = "memory"
    label: ClassVar[str] = "In-process list (reference queue type)"
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["list"],
        "properties": {
            "list": {
                "type": "string",
                "minLength": 1,
                "maxLength": 100,
                "description": "Name of the in-process list to read.",
            },
            "start": {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "description": "Index of the first item to read.",
            },
            "stop": {
                "type": ["integer", "null"],
                "minimum": 1,
                "default": None,
                "description": "Index to stop before; null reads on forever.",
            },
            "token": {
                "type": "string",
                "default": "",
                "pattern": "^(|.{8,})$",
                "x-hippo-secret": True,
                "description": "A secret, masked whole; 8 characters or more when given.",
            },
            "url": {
                "type": "string",
                "default": "",
                "pattern": "^(|memory://.*)$",
                "x-hippo-secret": "url-password",
                "description": "memory://user:password@host/...; only the password is masked.",
            },
        },
    }

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

    def poll(self, limit: int, cursor: JSON) -> PollResult:
        position = self.settings["start"] if cursor is None else int(cursor)
        end = position + limit
        if self.settings.get("stop") is not None:
            end = min(end, self.settings["stop"])
        with _lock:
            found = _lists.get(self.settings["list"], [])[position:end]
        return PollResult([Item(data) for data in found], position + len(found))
