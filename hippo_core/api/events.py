"""A task's event history, and the live event stream as server-sent events.

``GET /tasks/{id}/events/``: every event of the task, oldest first (created, each state
it entered with the Mesos state, reason, message, agent and source of the attempt,
retries and kill requests), the newest ``[events] history_per_task`` of them.

``GET /events/``: task, queue, leader and backend events as they happen, as
``text/event-stream``. Each event is one ``data:`` line holding its JSON (the same
payload as in a history) with an ``id:``; a client that reconnects with
``Last-Event-ID`` (browsers' EventSource do) gets every event after that one, as long
as the capped stream still holds them, and otherwise first an ``event: reset`` telling
it to read the state afresh. Filters, each comma-separated and combined with AND:
``queue`` (queue ids), ``family`` (family ids), ``state`` (task states: only task
events entering or carrying one). An idle stream gets a comment line every
``[events] heartbeat_seconds``, so proxies keep it open. Each open stream holds one of
the API's threads; at most ``[events] max_streams`` are served at once (503 beyond).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import falcon
import orjson

from hippo_core.journal import EventsSettings
from hippo_core.store import Store
from hippo_core.tasks import TaskService
from hippo_core.taskstate import State

_EVENT_ID = re.compile(r"^\d+-\d+$")
# How long one blocking read of the stream waits: below the Redis client's socket timeout.
_MAX_BLOCK = 10.0
RECONNECT_MS = 3000


class TaskEventsResource:
    def __init__(self, tasks: TaskService) -> None:
        self.tasks = tasks

    def on_get(self, req: falcon.Request, resp: falcon.Response, task_id: str) -> None:
        mesos_id, items = self.tasks.history(task_id)
        resp.media = {"task_id": mesos_id, "items": items}


class Filter:
    """Which events a stream client asked for."""

    def __init__(self, queues: set[str], families: set[str], states: set[str]) -> None:
        self.queues = queues
        self.families = families
        self.states = states

    @classmethod
    def of(cls, req: falcon.Request) -> Filter:
        states = {s.upper() for s in _listed(req, "state")}
        unknown = states - set(State.__members__)
        if unknown:
            raise falcon.HTTPInvalidParam(
                f"unknown state(s) {', '.join(sorted(unknown))}; known: {', '.join(State)}", "state"
            )
        return cls(_listed(req, "queue"), _listed(req, "family"), states)

    def __call__(self, event: dict[str, Any]) -> bool:
        if self.queues and event.get("queue_id") not in self.queues:
            return False
        if self.families and event.get("family") not in self.families:
            return False
        return not self.states or event.get("state") in self.states


def _listed(req: falcon.Request, name: str) -> set[str]:
    values: set[str] = set()
    for raw in req.get_param_as_list(name) or []:
        values.update(v.strip() for v in raw.split(",") if v.strip())
    return values


def _id_key(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq)


class EventStreamResource:
    def __init__(self, store: Store, settings: EventsSettings) -> None:
        self.store = store
        self.heartbeat = settings.heartbeat_seconds
        self.max_streams = settings.max_streams
        self._open = 0
        self._lock = threading.Lock()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        wanted = Filter.of(req)
        last_id = req.get_header("Last-Event-ID") or req.get_param("last_event_id")
        if last_id is not None and not _EVENT_ID.match(last_id.strip()):
            raise falcon.HTTPInvalidHeader(
                "must be an event id this stream sent (like 1712345678901-0)", "Last-Event-ID"
            )
        preamble = [f"retry: {RECONNECT_MS}\n\n".encode()]
        if last_id is None:
            # From now on: the newest event so far is where reading starts.
            after = self.store.last_event_id() or "0-0"
        else:
            after = last_id.strip()
            first = self.store.first_event_id()
            if first is not None and _id_key(first) > _id_key(after):
                reason = {"reason": f"events after {after} are no longer kept; read the state afresh"}
                preamble.append(b"event: reset\ndata: " + orjson.dumps(reason) + b"\n\n")
        with self._lock:
            if self._open >= self.max_streams:
                raise falcon.HTTPServiceUnavailable(
                    title="Too many event streams",
                    description=f"This API process serves at most {self.max_streams} event streams at once "
                    "([events] max_streams); try again later or another API process.",
                    retry_after=5,
                )
            self._open += 1
        resp.content_type = "text/event-stream"
        resp.set_header("Cache-Control", "no-cache")
        # nginx and others buffer responses unless told not to.
        resp.set_header("X-Accel-Buffering", "no")
        resp.stream = _Stream(self._events(after, wanted, preamble), self._closed)

    def _closed(self) -> None:
        with self._lock:
            self._open -= 1

    def _events(self, after: str, wanted: Filter, preamble: list[bytes]) -> Generator[bytes, None, None]:
        yield b"".join(preamble)
        written = time.monotonic()
        while True:
            wait = min(_MAX_BLOCK, max(0.01, self.heartbeat - (time.monotonic() - written)))
            entries = self.store.read_events(after, wait)
            chunk = []
            for entry_id, event in entries:
                after = entry_id
                if wanted(event):
                    chunk.append(b"id: " + entry_id.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n")
            if chunk:
                yield b"".join(chunk)
                written = time.monotonic()
            elif time.monotonic() - written >= self.heartbeat:
                yield b": heartbeat\n\n"
                written = time.monotonic()


class _Stream:
    """The response body of one stream; the server closes it when the client goes (or never came)."""

    def __init__(self, chunks: Generator[bytes, None, None], on_close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._on_close: Callable[[], None] | None = on_close

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            self._chunks.close()
            on_close()
