"""One event hook: every change Hippo makes is published once, as an :class:`Event`.

Metrics, a task's event history, the live event stream and webhooks are all
subscribers of this hook; log lines are not the only record of what happened.

The vocabulary (``Event.kind``)::

    task.created          a task was stored (posted, or made by a poll)
    task.<STATE>          a task entered a State: task.STAGING, task.RUNNING, task.FAILED, ...
    task.retry            an attempt ended and a new one waits (attempt: the new number;
                          mesos_state, reason, message: how the old one ended; data: kind,
                          ``task`` (its own failure), ``system`` or ``rerun`` (asked through the API))
    task.kill_requested   someone asked for the task to be killed
    task.launched         the worker sent the launch to the backend (agent, hostname)
    task.deleted          the task's record was deleted
    queue.created, queue.updated, queue.deleted, queue.enabled, queue.disabled
    queue.polled          a poll took items into custody (data: items, tasks)
    queue.error           a poll failed (message, scrubbed of secrets; data: during, transient)
    offers.declined       the worker declined offers it could not use (data: offers, refuse_seconds)
    offers.used           the worker launched tasks on offers (data: offers, tasks)
    leader.changed        this worker took the lead or lost it (data: leading, term)
    backend.connected     the backend subscribed to its cluster (data: framework_id)
    backend.disconnected  ... and lost it (message: why)

Task events are published by the store after each write succeeds, from the record
before and after (:func:`task_events`), so each change is published exactly once
whoever made it; the others by the part that knows of them.

Subscribers run synchronously in the publishing thread, in the order they subscribed,
and must be quick (a webhook sender queues, and sends from a thread of its own). One
that raises is logged and skipped: a subscriber never breaks the write path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hippo_core.states import TASK_FAULTS
from hippo_core.taskstate import TERMINAL_STATES

log = logging.getLogger(__name__)

Record = Mapping[str, Any]
Handler = Callable[["Event"], None]


@dataclass(frozen=True)
class Event:
    """One change. Only ``kind`` and ``time`` are always set; the rest as the kind has them."""

    kind: str
    time: float = field(default_factory=time.time)
    task_id: str | None = None
    family: str | None = None
    queue_id: str | None = None
    state: str | None = None
    attempt: int | None = None
    attempt_id: str | None = None
    mesos_state: str | None = None
    reason: str | None = None
    message: str | None = None
    agent: str | None = None
    hostname: str | None = None
    source: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The one JSON payload every consumer shares: the fields that are set."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value is None or (name == "data" and not value):
                continue
            out[name] = dict(value) if name == "data" else value
        return out


class EventBus:
    """Subscribers of the hook, and publishing to them."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self._lock = threading.Lock()

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        """Call ``handler`` with every event from now on; returns a function that unsubscribes."""
        with self._lock:
            self._handlers = [*self._handlers, handler]

        def unsubscribe() -> None:
            with self._lock:
                self._handlers = [h for h in self._handlers if h is not handler]

        return unsubscribe

    def publish(self, *events: Event) -> None:
        handlers = self._handlers  # a snapshot: subscribing meanwhile does not disturb the loop
        for event in events:
            for handler in handlers:
                try:
                    handler(event)
                except Exception:
                    log.exception("event subscriber %r failed on %s; carrying on", handler, event.kind)


# The process's hook: `hippo up` runs the API and the worker in one process, and both
# publish here, so one set of subscribers (one /metrics) sees everything.
bus = EventBus()
subscribe = bus.subscribe
publish = bus.publish


def _task_fields(task: Record) -> dict[str, Any]:
    attempt = task["attempts"][-1] if task.get("attempts") else {}
    return {
        "task_id": task["mesos_id"],
        "family": task["id"],
        "queue_id": task.get("queue_id"),
        "state": task["state"],
        "attempt": attempt.get("n"),
        "attempt_id": attempt.get("mesos_id"),
        "mesos_state": task.get("mesos_state"),
        "reason": task.get("reason"),
        "message": task.get("message"),
        "agent": attempt.get("agent_id"),
        "hostname": attempt.get("hostname"),
        "source": attempt.get("source"),
    }


def task_events(old: Record | None, new: Record | None, now: float | None = None) -> list[Event]:
    """What a write of a task record changed, as events (``None``: no record before / after)."""
    now = time.time() if now is None else now
    if old is None and new is None:
        return []
    if new is None:
        assert old is not None
        return [Event("task.deleted", now, **_task_fields(old))]
    fields = _task_fields(new)
    if old is None:
        return [Event("task.created", now, **fields)]
    out = []
    if len(new["attempts"]) > len(old["attempts"]) and old["attempts"]:
        ended = new["attempts"][len(old["attempts"]) - 1]
        out.append(
            Event(
                "task.retry",
                now,
                **{
                    **fields,
                    "mesos_state": ended.get("state"),
                    "reason": ended.get("reason"),
                    "message": ended.get("message"),
                    "source": ended.get("source"),
                    "data": {"kind": _retry_kind(old, ended)},
                },
            )
        )
    if new.get("kill_requested") and not old.get("kill_requested"):
        out.append(Event("task.kill_requested", now, **fields))
    if new["state"] != old["state"]:
        out.append(Event(f"task.{new['state']}", now, **fields))
    return out


def _retry_kind(old: Record, ended: Record) -> str:
    """Whose the ended attempt's failure was, or that the task was re-run after it ended."""
    if old["state"] in TERMINAL_STATES:
        return "rerun"
    return "task" if ended.get("state") in TASK_FAULTS else "system"


def queue_events(old: Record | None, new: Record | None, now: float | None = None) -> list[Event]:
    """What a write of a queue definition changed, as events."""
    now = time.time() if now is None else now
    record = new if new is not None else old
    if record is None:
        return []
    queue_id = record["id"]
    if old is None:
        return [Event("queue.created", now, queue_id=queue_id, family=queue_id)]
    if new is None:
        return [Event("queue.deleted", now, queue_id=queue_id, family=queue_id)]
    out = []
    status, before = new["queue"]["status"], old["queue"]["status"]
    if status != before:
        kind = "queue.enabled" if status == "ENABLED" else "queue.disabled"
        out.append(Event(kind, now, queue_id=queue_id, family=queue_id))
    if _without_status(new) != _without_status(old):
        out.append(Event("queue.updated", now, queue_id=queue_id, family=queue_id))
    return out


def _without_status(queue: Record) -> dict[str, Any]:
    """The definition apart from what a toggle changes."""
    rest = {k: v for k, v in queue.items() if k != "updated_at"}
    rest["queue"] = {k: v for k, v in queue["queue"].items() if k != "status"}
    return rest
