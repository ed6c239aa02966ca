"""The two vocabularies of task states: Hippo's own, and the Mesos task states backends report.

``State`` is what the API shows as a task's ``state`` and what the store indexes tasks
by. ``MesosState`` is the language of status updates: Mesos' own task states, which
every backend reports in (the local backend maps exit codes onto them; a backend for
another cluster manager maps its own phases). The API shows the current attempt's
as ``mesos_state``. How one moves the other is the state machine's business
(:mod:`hippo_core.states`); this module only names them.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a task is in Hippo's eyes (listed in the order the API lists them)."""

    PENDING = "PENDING"
    STAGING = "STAGING"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    KILLING = "KILLING"
    UNREACHABLE = "UNREACHABLE"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def active(self) -> bool:
        return self in ACTIVE_STATES

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


# Launched and not ended: what counts against max_concurrent.
ACTIVE_STATES = frozenset({State.STAGING, State.STARTING, State.RUNNING, State.KILLING, State.UNREACHABLE})
# Ended for good unless someone re-runs the task.
TERMINAL_STATES = frozenset({State.FINISHED, State.FAILED, State.KILLED})


class MesosState(StrEnum):
    """A task state as Mesos names it (``mesos.v1.TaskState``)."""

    TASK_STAGING = "TASK_STAGING"
    TASK_STARTING = "TASK_STARTING"
    TASK_RUNNING = "TASK_RUNNING"
    TASK_KILLING = "TASK_KILLING"
    TASK_UNREACHABLE = "TASK_UNREACHABLE"
    TASK_UNKNOWN = "TASK_UNKNOWN"
    TASK_FINISHED = "TASK_FINISHED"
    TASK_FAILED = "TASK_FAILED"
    TASK_KILLED = "TASK_KILLED"
    TASK_ERROR = "TASK_ERROR"
    TASK_LOST = "TASK_LOST"
    TASK_DROPPED = "TASK_DROPPED"
    TASK_GONE = "TASK_GONE"
    TASK_GONE_BY_OPERATOR = "TASK_GONE_BY_OPERATOR"

    @property
    def terminal(self) -> bool:
        return self in MESOS_TERMINAL_STATES


# Terminal as Mesos means it: the task will never run again. (TASK_UNREACHABLE may come
# back and TASK_UNKNOWN says only that Mesos has no record yet; neither is terminal.)
MESOS_TERMINAL_STATES = frozenset(
    {
        MesosState.TASK_FINISHED,
        MesosState.TASK_FAILED,
        MesosState.TASK_KILLED,
        MesosState.TASK_ERROR,
        MesosState.TASK_LOST,
        MesosState.TASK_DROPPED,
        MesosState.TASK_GONE,
        MesosState.TASK_GONE_BY_OPERATOR,
    }
)

# What an attempt's ``state`` (and a task's ``mesos_state``) says when no Mesos state
# applies: not launched yet, or ended by Hippo itself rather than by a status update.
WAITING_ON_OFFERS = "WAITING_ON_OFFERS"
LAUNCH_REFUSED = "HIPPO_LAUNCH_REFUSED"
UNREACHABLE_TIMEOUT = "HIPPO_UNREACHABLE_TIMEOUT"
