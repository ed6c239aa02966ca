"""The records Hippo stores, as types, and how a newer Hippo reads what an older one wrote.

Every stored record carries ``format``: the version of its layout. The store upgrades
a record of an older format as it reads it (the ``UPGRADES`` steps, one per version)
and writes the current format, so Hippo can be upgraded in place, across later
changes to what it stores. A record of a *newer* format than this Hippo knows is an
error: an older Hippo must not rewrite what it does not understand.

``format`` is the store's business: records leave the store without it, and the
store stamps it on every write.

Formats:

1. Before records were versioned (no ``format`` key).
2. Every attempt carries ``attributes`` (the agent attributes it was placed on; ``{}``
   before launch), so an attempt has one shape.
3. A queue's secret settings are sealed (``hippo-sealed:v1:...``, :mod:`hippo_core.crypto`)
   when Hippo has a key. The bump keeps an older Hippo, which would hand the sealed text
   to its queue type as a password, from reading them. Sealing needs the queue type's
   schema and the key, which the store knows nothing of: records of formats 1 and 2
   read with their secrets in clear (the services take a clear secret as it is), and
   every ``hippo api``, ``worker`` and ``up`` seals what it finds in clear at start
   (:func:`hippo_core.crypto.seal_stored`), writing them in this format.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, NotRequired, TypedDict

import orjson

from hippo_core.errors import HippoError

FORMAT = 3
FORMAT_KEY = "format"

# JSON values as stored (definitions, settings, cursors are free-form JSON).
JSON = Any
# A JSON object as the API takes or gives it, before validation or after masking.
Document = dict[str, Any]


class Attempt(TypedDict):
    """One run of a task (its mesos id is the Mesos task id of that run)."""

    n: int
    mesos_id: str
    state: str  # a MesosState, or WAITING_ON_OFFERS / HIPPO_* when no Mesos state applies
    agent_id: str | None
    hostname: str | None
    attributes: dict[str, str]
    reason: str | None
    message: str | None
    source: str | None
    created_at: float
    launched_at: float | None
    running_at: float | None
    unreachable_at: float | None
    ended_at: float | None
    reported_state: NotRequired[str]  # what Mesos said of it after Hippo had ended it


class Definition(TypedDict):
    """What a task runs (``schemas/definition.json``): a task has one, and a queue gives one to its tasks."""

    cmd: str
    cpus: float
    mem: float
    container: dict[str, JSON]
    env: dict[str, str]
    constraints: list[list[str]]
    task_retries: int
    system_retries: int


class Task(Definition):
    """A task: its definition and where it is."""

    id: str  # the family
    mesos_id: str
    queue_id: str | None
    data: str
    max_concurrent: int
    state: str  # a State
    mesos_state: str
    mesos_agent: str | None
    hostname: str | None
    reason: str | None
    message: str | None
    pending_reason: str | None
    warnings: list[str]
    kill_requested: bool
    task_retries_used: int
    system_retries_used: int
    attempts: list[Attempt]
    created_at: float
    updated_at: float
    status_tstamp: float


class QueueBlock(TypedDict):
    """The ``queue`` block of a queue: how it is polled, and its type's settings (by type name)."""

    type: str
    name: str
    status: str
    max_concurrent: int
    batch_size: int
    batch_separator: str
    frequency_seconds: float


class Queue(Definition):
    """A queue: the definition its tasks run, and the ``queue`` block."""

    id: str
    queue: QueueBlock
    created_at: float
    updated_at: float


class QueueState(TypedDict, total=False):
    """What the poller keeps of a queue between polls (empty before its first)."""

    last_run_tstamp: float
    next_run_tstamp: float
    cursor: JSON
    cursor_origin: JSON
    last_error: str | None
    last_error_tstamp: float | None
    consecutive_errors: int


def copy_of(value: JSON) -> JSON:
    """A deep copy of a JSON value: through orjson, many times faster than ``copy.deepcopy``
    (which it falls back to for what orjson refuses: integers beyond 64 bits, say)."""
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return copy.deepcopy(value)


def settings_of(queue: Queue) -> dict[str, JSON]:
    """The settings of the queue's type: the block named after the type in its ``queue`` block."""
    block: dict[str, Any] = dict(queue["queue"])
    settings: dict[str, JSON] = block[queue["queue"]["type"]]
    return settings


class NewerFormat(HippoError):
    """A record written by a newer Hippo than this one."""


def _attempts_have_attributes(record: dict[str, Any]) -> dict[str, Any]:
    for attempt in record.get("attempts", []):
        attempt.setdefault("attributes", {})
    return record


# UPGRADES[kind][n] turns a record of format n into format n + 1.
Upgrade = Callable[[dict[str, Any]], dict[str, Any]]


def _unchanged(record: dict[str, Any]) -> dict[str, Any]:
    return record


UPGRADES: dict[str, dict[int, Upgrade]] = {
    "task": {1: _attempts_have_attributes, 2: _unchanged},
    # 2 -> 3: secrets in clear stay so until sealed at start (see format 3 above).
    "queue": {1: _unchanged, 2: _unchanged},
    "queue_state": {1: _unchanged, 2: _unchanged},
}


def upgrade(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` (as stored, a ``kind`` record) in the current format, without ``format``."""
    version = record.pop(FORMAT_KEY, 1)
    if not isinstance(version, int) or version < 1:
        raise NewerFormat(f"a stored {kind} record has an unreadable format {version!r}")
    if version > FORMAT:
        raise NewerFormat(
            f"a stored {kind} record has format {version}, written by a newer Hippo than this one "
            f"(which reads formats up to {FORMAT}); upgrade Hippo"
        )
    steps = UPGRADES[kind]
    while version < FORMAT:
        record = steps[version](record)
        version += 1
    return record


def stamped(record: Any) -> dict[str, Any]:
    """``record`` as the store writes it: with the current ``format``, first."""
    return {FORMAT_KEY: FORMAT, **record}
