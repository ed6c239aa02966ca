"""The poller: each ENABLED queue, when due, asks its queue type for items and makes tasks.

One poll of a queue, in order:

1. Take no more items than the queue's free slots can start soon: ``max_concurrent``
   minus its tasks that are pending or active, times ``batch_size`` (backpressure: a
   deep source is not drained into Redis).
2. ``poll(limit, cursor)`` the queue type.
3. Group the items into tasks of ``batch_size`` joined by ``batch_separator`` and
   store them together with the new cursor and ``last_run_tstamp`` in one Redis
   transaction: custody.
4. Only then ``ack`` the items to the source (SQS delete, Redis processing list).
   A crash between 3 and 4 re-delivers the items in flight (a re-run), never loses one.

A source that fails is marked on the queue (``last_error``, scrubbed of secrets) and
backed off exponentially with jitter (transient errors from one second, others from the
queue's frequency), never stops the worker or other queues. Queues are polled on a thread
pool, so one slow source delays no other (as long as fewer sources than ``threads``
are slow at once).

A queue deleted while it was being polled gets no tasks and no state: the items that
poll found are neither stored nor acknowledged, so their source offers them again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from hippo_core import crypto, events, secrets, states
from hippo_core.backoff import Backoff
from hippo_core.crypto import Sealer
from hippo_core.documents import queue_schema, task_definition_of
from hippo_core.errors import StoreUnavailable
from hippo_core.events import Event
from hippo_core.logformat import log_context
from hippo_core.policy import Policy
from hippo_core.queuetype import Item, QueueType
from hippo_core.records import Queue, QueueState, Task, settings_of
from hippo_core.registry import QueueTypeRegistry
from hippo_core.store import Store
from hippo_core.taskstate import ACTIVE_STATES, State

log = logging.getLogger(__name__)

MAX_BACKOFF = 900.0
TRANSIENT_BASE = 1.0
PERMANENT_BASE = 30.0
# Share of a backoff taken off at random, so the queues of one failing source spread out.
BACKOFF_JITTER = 0.2


class SourceRefused(Exception):
    """The ``[policy]`` refuses where the queue's settings point (checked before each poll)."""


@dataclass
class Custody:
    """Items now held by Hippo as tasks, still to be acknowledged to their source."""

    queue_id: str
    instance: QueueType | None
    items: list[Item] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)


def batches(items: list[Item], size: int) -> list[list[Item]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class Poller:
    def __init__(
        self,
        store: Store,
        registry: QueueTypeRegistry,
        threads: int = 8,
        tick_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
        sealer: Sealer | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        # Opens the sealed secrets the queue type gets in clear (None: stored in clear).
        self.sealer = sealer
        # Checked before each poll, with host names resolved (None: no source policy).
        self.policy = policy
        self.tick_seconds = tick_seconds
        self.clock = clock
        self._threads = threads
        self._instances: dict[str, tuple[str, QueueType]] = {}
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.fence: str | None = None
        self._next_due = 0.0
        self._records: dict[str, tuple[str, Queue]] = {}

    # -- running ----------------------------------------------------------------------------

    def start(self, fence: str | None = None) -> None:
        """Poll until ``stop()``; with ``fence`` (the leader lease's token) nothing is stored
        once that lease is someone else's, so a deposed leader's late polls change nothing."""
        self.fence = fence
        self._stop.clear()
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="hippo-poll")
        self._thread = threading.Thread(target=self._run, name="hippo-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._pool is not None:
            # A source that hangs must not hold up the worker's shutdown: polls not yet begun
            # are dropped, and one still running finishes on its own (fenced, see start).
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        with self._lock:
            instances, self._instances = self._instances, {}
            busy = set(self._in_flight)
        for queue_id, (_, instance) in instances.items():
            if queue_id not in busy:
                self._close(instance)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.dispatch()
            except Exception:
                log.exception("poller round failed; trying again")
            # Until the next queue is due, but at least every tick: new and changed queues.
            wait = min(self.tick_seconds, self._next_due - self.clock())
            self._stop.wait(max(0.005, wait))

    def dispatch(self) -> list[str]:
        """Start a poll of every due queue not already being polled; returns their ids."""
        started = []
        for queue, state in self.due_queues():
            with self._lock:
                if queue["id"] in self._in_flight:
                    continue
                self._in_flight.add(queue["id"])
            assert self._pool is not None
            self._pool.submit(self._poll_guarded, queue, state)
            started.append(queue["id"])
        return started

    def _poll_guarded(self, queue: Queue, state: QueueState) -> None:
        try:
            self.poll(queue, state)
        except Exception:
            log.exception("poll of queue %s failed unexpectedly", queue["id"])
        finally:
            with self._lock:
                self._in_flight.discard(queue["id"])

    # -- one queue --------------------------------------------------------------------------

    def due_queues(self) -> list[tuple[Queue, QueueState]]:
        # Parsed again only when changed: shared between polls, never changed here.
        queues = {q["id"]: q for q in self.store.get_queues(self.store.queue_ids(), reuse=self._records)}
        self._forget_gone(set(queues))
        now = self.clock()
        due = []
        next_due = now + self.tick_seconds
        for queue, state in zip(queues.values(), self.store.get_queue_states(list(queues)), strict=True):
            if queue["queue"]["status"] != "ENABLED":
                continue
            when = self.next_run(queue, state)
            if now >= when:
                due.append((queue, state))
            else:
                next_due = min(next_due, when)
        self._next_due = next_due
        return due

    @staticmethod
    def next_run(queue: Queue, state: QueueState) -> float:
        """When ``queue`` is due: at its backoff after a failure, else a period after its last run.

        The period is read from the queue as it is now, so a changed ``frequency_seconds``
        counts at once rather than after the period stored at the last run.
        """
        backoff_until = state.get("next_run_tstamp")
        if state.get("consecutive_errors") and backoff_until is not None:
            return float(backoff_until)
        last = state.get("last_run_tstamp")
        return 0.0 if last is None else float(last) + queue["queue"]["frequency_seconds"]

    def poll(self, queue: Queue, state: QueueState) -> Custody:
        """Poll one queue now: take custody of new items, then acknowledge them."""
        with log_context(queue_id=queue["id"]):
            custody = self.take(queue, state)
            self.ack(custody, queue, state)
        return custody

    def take(self, queue: Queue, state: QueueState) -> Custody:
        """Steps 1-3: poll the source and store its items as tasks with the new cursor."""
        block = queue["queue"]
        now = self.clock()
        try:
            qtype = self.registry.get(block["type"])
            queue = self._opened(queue)
            self._refuse_forbidden_source(qtype, settings_of(queue))
            instance = self._instance(queue, qtype)
            settings = settings_of(queue)
            start = qtype.initial_cursor(settings)
            # A cursor belongs to one type, one source and one starting point; if any of
            # them changed it points into something else and starts over.
            # Through JSON, as it is stored, so that a tuple and a list compare equal.
            origin = json.loads(json.dumps([qtype.name, qtype.source_identity(settings), start]))
        except Exception as exc:
            # Uninstalled type, or a plugin that cannot even be built from these settings.
            self._failed(queue, exc, transient=False)
            return Custody(queue["id"], None)
        cursor = state.get("cursor") if state.get("cursor_origin") == origin else start
        limit = self.free_slots(queue) * block["batch_size"]
        new_state: QueueState = {
            **state,
            "last_run_tstamp": now,
            "next_run_tstamp": now + block["frequency_seconds"],
            "cursor": cursor,
            "cursor_origin": origin,
        }
        if limit <= 0:
            polled = self._polled(queue, state, now, 0, 0, 0.0)
            if self.store.set_queue_state(queue["id"], new_state, fence=self.fence, journal=[polled]):
                events.publish(polled)
            return Custody(queue["id"], instance)
        started = time.monotonic()
        try:
            result = instance.poll(limit, cursor)
        except Exception as exc:
            self._failed(queue, exc, transient=instance.is_transient(exc))
            return Custody(queue["id"], instance)
        # A source may return a little more than asked when it cannot split a run of items
        # sharing one cursor value; dropping any would lose them behind the cursor.
        items = list(result.items)
        seconds = time.monotonic() - started
        new_state.update(
            {
                "cursor": result.cursor if result.cursor is not None else cursor,
                "last_error": None,
                "last_error_tstamp": None,
                "consecutive_errors": 0,
            }
        )
        try:
            tasks = self._tasks_of(queue, items, now)
            polled = self._polled(queue, state, now, len(items), len(tasks), seconds)
            stored = self.store.create_tasks(
                tasks, queue_id=queue["id"], queue_state=new_state, fence=self.fence, journal=[polled]
            )
        except Exception as exc:
            # Nothing stored, nothing acknowledged: the source offers the items again.
            self._failed(queue, exc, transient=isinstance(exc, StoreUnavailable), during="store")
            return Custody(queue["id"], instance)
        if not stored:
            # Deleted while its source was read, or this worker no longer leads: its items
            # go back unacknowledged.
            log.warning(
                "queue %s deleted, or leadership lost, while it was polled; %d item(s) left to the source",
                queue["id"],
                len(items),
            )
            return Custody(queue["id"], instance)
        if tasks:
            log.info("queue %s: %d item(s) -> %d task(s)", queue["id"], len(items), len(tasks))
        events.publish(polled)
        return Custody(queue["id"], instance, items, tasks)

    def _polled(
        self, queue: Queue, state: QueueState, now: float, items: int, tasks: int, seconds: float
    ) -> Event:
        """A poll that ran: what it took, how long the source took, how late it ran."""
        due = self.next_run(queue, state)
        data = {
            "queue_type": queue["queue"]["type"],
            "items": items,
            "tasks": tasks,
            "seconds": seconds,
            # A queue never polled before has no due time to be late for.
            "lag": max(0.0, now - due) if state.get("last_run_tstamp") is not None else 0.0,
        }
        return Event("queue.polled", now, queue_id=queue["id"], family=queue["id"], data=data)

    @staticmethod
    def _tasks_of(queue: Queue, items: list[Item], now: float) -> list[Task]:
        block = queue["queue"]
        definition = task_definition_of(queue)
        return [
            states.new_task(
                definition,
                family=queue["id"],
                queue_id=queue["id"],
                data=block["batch_separator"].join(i.data for i in batch),
                now=now,
            )
            for batch in batches(items, block["batch_size"])
        ]

    def ack(self, custody: Custody, queue: Queue, state: QueueState) -> None:
        """Step 4: tell the source the items are in Hippo's custody."""
        if not custody.items or custody.instance is None:
            return
        try:
            custody.instance.ack(custody.items)
        except Exception as exc:
            # The tasks are stored; the source will offer these items again (a re-run).
            self._failed(queue, exc, transient=custody.instance.is_transient(exc), during="ack")

    def free_slots(self, queue: Queue) -> int:
        family = queue["id"]
        held = self.store.count_tasks((State.PENDING, *ACTIVE_STATES), [family])[family]
        return queue["queue"]["max_concurrent"] - held

    # -- helpers ----------------------------------------------------------------------------

    def _opened(self, queue: Queue) -> Queue:
        """``queue`` with its secrets in clear, for its queue type (never stored so)."""
        schema = queue_schema(self.registry, queue["queue"]["type"])
        opened: Queue = crypto.open_secrets(schema, dict(queue), self.sealer)  # type: ignore[assignment]
        return opened

    def _refuse_forbidden_source(self, qtype: type[QueueType], settings: dict[str, Any]) -> None:
        if self.policy is None:
            return
        problems = self.policy.source_problems(qtype.source_endpoints(settings), resolve=True)
        if problems:
            raise SourceRefused("; ".join(f"{name}: {why}" for name, why in problems))

    def _instance(self, queue: Queue, qtype: type[QueueType]) -> QueueType:
        settings = settings_of(queue)
        fingerprint = json.dumps([qtype.name, settings], sort_keys=True)
        with self._lock:
            cached = self._instances.get(queue["id"])
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        instance = qtype(settings, queue["id"])
        with self._lock:
            old = self._instances.get(queue["id"])
            self._instances[queue["id"]] = (fingerprint, instance)
        if old is not None:
            self._close(old[1])
        return instance

    def _forget_gone(self, live: set[str]) -> None:
        with self._lock:
            gone = [qid for qid in self._instances if qid not in live and qid not in self._in_flight]
            closing = [self._instances.pop(qid)[1] for qid in gone]
        for instance in closing:
            self._close(instance)

    @staticmethod
    def _close(instance: QueueType) -> None:
        try:
            instance.close()
        except Exception:
            log.exception("closing %r failed", instance)

    def _failed(self, queue: Queue, exc: BaseException, transient: bool, during: str = "poll") -> None:
        now = self.clock()
        # Read afresh: after a failed ack the stored state already holds the new cursor.
        state = self.store.get_queue_states([queue["id"]])[0]
        errors = int(state.get("consecutive_errors") or 0) + 1
        base = TRANSIENT_BASE if transient else max(PERMANENT_BASE, queue["queue"]["frequency_seconds"])
        delay = Backoff(base, max(base, MAX_BACKOFF), jitter=BACKOFF_JITTER).delay(errors)
        schema = queue_schema(self.registry, queue["queue"]["type"])
        try:
            # The queue type saw the secrets in clear, and may have quoted them.
            clear = crypto.open_secrets(schema, dict(queue), self.sealer)
        except (crypto.SecretKeyMissing, crypto.UnreadableSecret):
            clear = dict(queue)
        message = secrets.scrub(f"{type(exc).__name__}: {exc}", secrets.secret_values(schema, clear))
        kind = "transient" if transient else "permanent"
        log.warning(
            "queue %s (%s) %s failed (%s, retry in %.0fs): %s",
            queue["id"],
            queue["queue"]["type"],
            during,
            kind,
            delay,
            message,
        )
        new_state: QueueState = {
            **state,
            "last_run_tstamp": now,
            "next_run_tstamp": now + delay,
            "last_error": f"{during} failed: {message}",
            "last_error_tstamp": now,
            "consecutive_errors": errors,
        }
        data = {"queue_type": queue["queue"]["type"], "during": during, "transient": transient}
        error = Event(
            "queue.error", now, queue_id=queue["id"], family=queue["id"], message=message, data=data
        )
        if self.store.set_queue_state(queue["id"], new_state, fence=self.fence, journal=[error]):
            events.publish(error)
