"""How a simulated task behaves once its agent has it.

Every behaviour but :class:`Error` goes through what the command executor
reports: ``TASK_STARTING`` when it gets the task, ``TASK_RUNNING`` once the
command runs, then (after ``after`` seconds of running) its end. ``TASK_STAGING``
is the master's initial state for a task and is never sent as an update
(mesos.proto: "Framework status updates should not use"); it shows only in
reconciliation and in the peer's books.

Rules pick the behaviour: the first rule whose predicate accepts the
``TaskInfo`` (a dict in the JSON shape the framework sent) wins, else the
peer's default behaviour.

Output: once running, a task writes ``stdout`` and ``stderr`` into its sandbox
(served by its agent's files API); by default one line each naming the task,
``stdout of <task id>`` and ``stderr of <task id>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hippo_mesos_peer.protocol import MASTER_REASONS, TASK_STATES, TERMINAL_STATES

Output = str | bytes | None


def default_output(stream: str, task_id: str) -> str:
    return f"{stream} of {task_id}\n"


@dataclass(frozen=True)
class Finish:
    """Runs ``after`` seconds, then ``TASK_FINISHED`` (exit status 0)."""

    after: float = 0.0
    stdout: Output = None
    stderr: Output = None


@dataclass(frozen=True)
class Fail:
    """Runs ``after`` seconds, then ``TASK_FAILED`` with ``message``."""

    after: float = 0.0
    message: str | None = None
    stdout: Output = None
    stderr: Output = None


@dataclass(frozen=True)
class Hang:
    """Runs until killed (or its agent goes away)."""

    stdout: Output = None
    stderr: Output = None


@dataclass(frozen=True)
class Lose:
    """Runs ``after`` seconds, then disappears with ``state`` and ``reason``.

    ``state`` defaults to what an agent reports when a task's container
    vanishes: ``TASK_GONE`` to partition-aware frameworks, ``TASK_LOST`` to
    others. ``reason`` defaults to ``REASON_EXECUTOR_TERMINATED``. A reason only
    the master writes (e.g. ``REASON_AGENT_REMOVED``) makes the update come from
    the master: ``SOURCE_MASTER`` and no ``uuid``, so it is not retried.
    """

    after: float = 0.0
    state: str | None = None
    reason: str | None = None
    message: str | None = None
    stdout: Output = None
    stderr: Output = None

    def __post_init__(self) -> None:
        if self.state is not None and self.state not in TERMINAL_STATES:
            raise ValueError(f"Lose(state={self.state!r}): expected one of {sorted(TERMINAL_STATES)}")


# The state the agent reports with a launch failure, after the Task State Reasons doc.
_ERROR_STATES = {
    "REASON_TASK_INVALID": "TASK_ERROR",
    "REASON_TASK_UNAUTHORIZED": "TASK_ERROR",
    "REASON_TASK_GROUP_INVALID": "TASK_ERROR",
    "REASON_TASK_GROUP_UNAUTHORIZED": "TASK_ERROR",
}
_DROPPED_REASONS = frozenset(
    {"REASON_AGENT_RESTARTED", "REASON_GC_ERROR", "REASON_INVALID_OFFERS", "REASON_EXECUTOR_TERMINATED"}
)


@dataclass(frozen=True)
class Error:
    """The task never starts: its agent answers the launch with a terminal update.

    ``state`` defaults to what Mesos sends with ``reason``: ``TASK_FAILED`` for
    container and executor failures (``REASON_CONTAINER_LAUNCH_FAILED``, ...),
    ``TASK_ERROR`` for invalid or unauthorized tasks, ``TASK_DROPPED`` /
    ``TASK_LOST`` (partition-aware or not) for launches the agent dropped.
    """

    reason: str = "REASON_CONTAINER_LAUNCH_FAILED"
    message: str | None = None
    state: str | None = None

    def __post_init__(self) -> None:
        if self.state is not None and self.state not in TASK_STATES - {"TASK_STAGING"}:
            raise ValueError(f"Error(state={self.state!r}) is not a task state")

    def state_for(self, partition_aware: bool) -> str:
        if self.state is not None:
            return self.state
        if self.reason in _ERROR_STATES:
            return _ERROR_STATES[self.reason]
        if self.reason in _DROPPED_REASONS:
            return "TASK_DROPPED" if partition_aware else "TASK_LOST"
        return "TASK_FAILED"


Behavior = Finish | Fail | Hang | Lose | Error
TaskPredicate = Callable[[dict[str, Any]], bool]


def lose_state(behavior: Lose, partition_aware: bool) -> str:
    if behavior.state is not None:
        return behavior.state
    return "TASK_GONE" if partition_aware else "TASK_LOST"


def lose_source(reason: str) -> str:
    return "SOURCE_MASTER" if reason in MASTER_REASONS else "SOURCE_AGENT"


def check_behavior(behavior: object) -> Behavior:
    if not isinstance(behavior, (Finish, Fail, Hang, Lose, Error)):
        raise TypeError(f"expected a behaviour (Finish, Fail, Hang, Lose or Error), got {behavior!r}")
    return behavior
