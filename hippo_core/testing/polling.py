"""Driving Hippo's Poller by hand in tests, and reading back what it stored.

A test creates a queue (``hippo_queues.create(body)``), gets a Poller (``hippo_pollers()``),
then ``poll_now(poller, store, queue_id)`` runs one poll of that queue as the worker would,
due or not, and the readers below show the tasks and the poller state it left.
"""

from __future__ import annotations

from collections.abc import Iterable

from hippo_core.poller import Custody, Poller
from hippo_core.records import Queue, QueueState, Task
from hippo_core.store import Store
from hippo_core.taskstate import State


def stored_queue(store: Store, queue_id: str) -> tuple[Queue, QueueState]:
    """``(queue, poller state)`` as stored: what ``Poller.poll`` and ``Poller.take`` take."""
    return store.get_queue(queue_id), store.get_queue_states([queue_id])[0]


def poll_now(poller: Poller, store: Store, queue_id: str) -> Custody:
    """Poll the queue once, now: take custody of new items as tasks, then acknowledge them."""
    return poller.poll(*stored_queue(store, queue_id))


def tasks_of(store: Store, queue_id: str) -> list[Task]:
    """Every task the queue has made (a queue's tasks share its id as their family)."""
    return store.get_tasks(store.task_ids(family=queue_id))


def data_of(store: Store, queue_id: str) -> list[str]:
    """The ``data`` of every task of the queue, sorted."""
    return sorted(task["data"] for task in tasks_of(store, queue_id))


def state_of(store: Store, queue_id: str) -> QueueState:
    """The queue's poller state (cursor, last run, errors, next run); ``{}`` before its first poll."""
    return store.get_queue_states([queue_id])[0]


def finish(store: Store, tasks: Iterable[Task]) -> None:
    """Mark these tasks FINISHED, freeing their slots of the queue's ``max_concurrent``."""
    for task in tasks:
        store.update_task(task["mesos_id"], lambda t: {**t, "state": State.FINISHED})
