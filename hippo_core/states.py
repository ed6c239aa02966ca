"""The task state machine: every Hippo state, every Mesos state, and what moves a task.

Hippo states::

    PENDING ──launch──▶ STAGING ─▶ STARTING ─▶ RUNNING ─▶ FINISHED
       ▲                   │           │           │
       │ retry             └───────────┴─────┬─────┴─▶ FAILED   (out of retries)
       └──────────────── TASK_FAILED / system failure with retries left
    any active ──kill──▶ KILLING ─▶ KILLED          PENDING ──kill──▶ KILLED
    any active ◀─────────▶ UNREACHABLE (partition-aware; may come back)
    FINISHED / FAILED / KILLED ──rerun (API)──▶ PENDING

A Mesos update maps to a Hippo state (``TASK_RUNNING`` -> ``RUNNING``). Terminal
updates decide retries: ``TASK_FAILED`` is the task's own fault and spends
``task_retries``; ``TASK_LOST``, ``TASK_ERROR``, ``TASK_DROPPED``, ``TASK_GONE``,
``TASK_GONE_BY_OPERATOR``, ``TASK_UNKNOWN``, a ``TASK_KILLED`` Hippo did not ask for,
a refused launch and an unreachable task given up on are the system's fault and spend
``system_retries``. A retry is a new attempt with a new mesos id. A kill asked through
the API ends in KILLED (or FINISHED if the task finished first) and is never retried.

Everything here is a pure function of a task record (a dict) and an event; the store
applies the result atomically.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hippo_core.backend import TaskStatus
from hippo_core.records import Attempt, Task, copy_of
from hippo_core.taskstate import (
    LAUNCH_REFUSED,
    MESOS_TERMINAL_STATES,
    TERMINAL_STATES,
    UNREACHABLE_TIMEOUT,
    WAITING_ON_OFFERS,
    MesosState,
    State,
)

M = MesosState

# The Hippo state of a task whose current attempt Mesos reports in a non-terminal state.
NON_TERMINAL_MESOS: dict[str, State] = {
    M.TASK_STAGING: State.STAGING,
    M.TASK_STARTING: State.STARTING,
    M.TASK_RUNNING: State.RUNNING,
    M.TASK_KILLING: State.KILLING,
    M.TASK_UNREACHABLE: State.UNREACHABLE,
}
# Endings that are the task's own fault (spend task_retries); every other bad ending is
# the system's (spends system_retries).
TASK_FAULTS = frozenset({M.TASK_FAILED})

# Mesos states each Hippo state may move on with. Anything else is refused (and logged
# by the caller): e.g. TASK_STARTING after TASK_RUNNING, or any update of a task Hippo
# already considers ended. PENDING accepts everything: a worker that crashed between
# launching and recording it must still learn where its task is.
_ALL_MESOS = frozenset(MesosState)
# TASK_UNKNOWN ends an attempt too: Mesos has no record of the task, so Hippo retries it
# (and kills the attempt should it ever reappear).
_ENDINGS = MESOS_TERMINAL_STATES | {M.TASK_UNKNOWN}


def ends_attempt(mesos_state: str) -> bool:
    """Whether Hippo considers an attempt over once Mesos reports this state."""
    return mesos_state in _ENDINGS


ALLOWED_UPDATES: dict[str, frozenset[str]] = {
    State.PENDING: _ALL_MESOS,
    State.STAGING: _ALL_MESOS,
    State.STARTING: _ALL_MESOS - {M.TASK_STAGING},
    State.RUNNING: _ALL_MESOS - {M.TASK_STAGING, M.TASK_STARTING},
    State.KILLING: _ALL_MESOS,
    State.UNREACHABLE: _ALL_MESOS,
    State.FINISHED: frozenset(),
    State.FAILED: frozenset(),
    State.KILLED: frozenset(),
}


@dataclass(frozen=True)
class Outcome:
    """What an event did to a task.

    ``task`` is the new record (``None`` when nothing changed). ``kill`` names an
    attempt (mesos id, agent id) the worker must kill, e.g. a stale attempt that
    reappeared. ``refused`` explains an illegal transition.
    """

    task: Task | None
    kill: tuple[str, str | None] | None = None
    refused: str | None = None
    retried: bool = False


def new_mesos_id(family: str) -> str:
    return f"{family}.{uuid.uuid4()}"


def _attempt(n: int, mesos_id: str, now: float) -> Attempt:
    return {
        "n": n,
        "mesos_id": mesos_id,
        "state": WAITING_ON_OFFERS,
        "agent_id": None,
        "hostname": None,
        "attributes": {},
        "reason": None,
        "message": None,
        "source": None,
        "created_at": now,
        "launched_at": None,
        "running_at": None,
        "unreachable_at": None,
        "ended_at": None,
    }


def new_task(
    definition: Mapping[str, Any], family: str, queue_id: str | None, data: str, now: float | None = None
) -> Task:
    """A PENDING task record from a validated definition (with defaults filled)."""
    now = time.time() if now is None else now
    mesos_id = new_mesos_id(family)
    task: Task = copy_of(dict(definition))
    task["env"] = {k: str(v) for k, v in definition.get("env", {}).items()}
    task.update(
        {
            "id": family,
            "mesos_id": mesos_id,
            "queue_id": queue_id,
            "data": data,
            "state": State.PENDING,
            "mesos_state": WAITING_ON_OFFERS,
            "mesos_agent": None,
            "hostname": None,
            "reason": None,
            "message": None,
            "pending_reason": None,
            "warnings": [],
            "kill_requested": False,
            "task_retries_used": 0,
            "system_retries_used": 0,
            "attempts": [_attempt(1, mesos_id, now)],
            "created_at": now,
            "updated_at": now,
            "status_tstamp": now,
        }
    )
    return task


def current_attempt(task: Task) -> Attempt:
    return task["attempts"][-1]


def _touch(task: Task, now: float) -> None:
    task["updated_at"] = now
    task["status_tstamp"] = now


def _retry_or_fail(task: Task, fault: str, now: float) -> tuple[Task, bool]:
    """After an attempt ended badly: a new attempt if retries are left, else FAILED."""
    if fault in TASK_FAULTS and task["task_retries_used"] < task["task_retries"]:
        task["task_retries_used"] += 1
    elif fault not in TASK_FAULTS and task["system_retries_used"] < task["system_retries"]:
        task["system_retries_used"] += 1
    else:
        task["state"] = State.FAILED
        return task, False
    _new_attempt(task, now)
    return task, True


def _new_attempt(task: Task, now: float) -> None:
    """Start the task's next attempt: PENDING again, waiting for resources."""
    n = len(task["attempts"]) + 1
    task["attempts"].append(_attempt(n, new_mesos_id(task["id"]), now))
    task.update(
        {
            "state": State.PENDING,
            "mesos_state": WAITING_ON_OFFERS,
            "mesos_agent": None,
            "hostname": None,
            "pending_reason": None,
        }
    )


def _note(attempt: Attempt, status: TaskStatus) -> None:
    """What a status update says of the attempt, where it says anything."""
    if status.agent_id is not None:
        attempt["agent_id"] = status.agent_id
    if status.hostname is not None:
        attempt["hostname"] = status.hostname
    if status.reason is not None:
        attempt["reason"] = status.reason
    if status.message is not None:
        attempt["message"] = status.message
    if status.source is not None:
        attempt["source"] = status.source


def _end_attempt(
    task: Task, mesos_state: str, now: float, reason: str | None = None, message: str | None = None
) -> Attempt:
    """End the current attempt in ``mesos_state``; the task shows why."""
    attempt = current_attempt(task)
    attempt["state"] = mesos_state
    attempt["ended_at"] = now
    if reason is not None:
        attempt["reason"] = reason
    if message is not None:
        attempt["message"] = message
    task["mesos_state"] = mesos_state
    task["reason"] = reason
    task["message"] = message
    return attempt


def mark_launched(
    task: Task,
    agent_id: str,
    hostname: str,
    attributes: dict[str, str] | None = None,
    now: float | None = None,
) -> Task:
    """PENDING -> STAGING: the worker is about to send the launch to ``agent_id``.

    The agent's attributes are kept on the attempt: constraints of later tasks of the
    same group are checked against where this one runs.
    """
    now = time.time() if now is None else now
    if task["state"] != State.PENDING:
        raise ValueError(f"task {task['mesos_id']} is {task['state']}, not PENDING")
    attempt = current_attempt(task)
    attempt.update(
        {
            "state": M.TASK_STAGING,
            "agent_id": agent_id,
            "hostname": hostname,
            "launched_at": now,
            "attributes": dict(attributes or {}),
        }
    )
    task.update(
        {
            "state": State.STAGING,
            "mesos_state": M.TASK_STAGING,
            "mesos_agent": agent_id,
            "hostname": hostname,
            "pending_reason": None,
        }
    )
    _touch(task, now)
    return task


def apply_status(task: Task, status: TaskStatus, now: float | None = None) -> Outcome:
    """Apply a status update of one of the task's attempts."""
    now = time.time() if now is None else now
    attempt = next((a for a in task["attempts"] if a["mesos_id"] == status.task_id), None)
    if attempt is None:
        return Outcome(None, refused=f"task {task['mesos_id']} has no attempt {status.task_id}")
    if attempt is not current_attempt(task):
        # An earlier attempt reappeared (e.g. its agent came back after Hippo gave up on
        # it): record what it says, and make sure it does not keep running next to the retry.
        return _reported_after_end(task, attempt, status, now)

    state = task["state"]
    if state in TERMINAL_STATES and status.state in NON_TERMINAL_MESOS:
        # Ended here (killed before its launch landed, refused, given up on) yet running there.
        return _reported_after_end(task, attempt, status, now)
    if status.state not in ALLOWED_UPDATES[state]:
        if status.state == task["mesos_state"]:
            return Outcome(None)  # a repeat, e.g. from reconciliation
        return Outcome(None, refused=f"{status.state} is not allowed for a task in {state}")

    _touch(task, now)
    if status.state in NON_TERMINAL_MESOS:
        if status.state == task["mesos_state"] and state != State.PENDING:
            task["reason"], task["message"] = status.reason, status.message
            return Outcome(task)
        _note(attempt, status)
        attempt["state"] = status.state
        if status.state == M.TASK_RUNNING and attempt["running_at"] is None:
            attempt["running_at"] = now
        # The unreachable clock starts at the first TASK_UNREACHABLE and stops when it is back.
        if status.state == M.TASK_UNREACHABLE:
            attempt["unreachable_at"] = attempt.get("unreachable_at") or now
        else:
            attempt["unreachable_at"] = None
        attempt["launched_at"] = attempt["launched_at"] or now
        task.update(
            {
                "mesos_state": status.state,
                "mesos_agent": attempt["agent_id"],
                "hostname": attempt["hostname"],
                "reason": status.reason,
                "message": status.message,
                "state": State.KILLING if task["kill_requested"] else NON_TERMINAL_MESOS[status.state],
            }
        )
        return Outcome(task)

    _note(attempt, status)
    _end_attempt(task, status.state, now, status.reason, status.message)
    if status.state == M.TASK_FINISHED:
        task["state"] = State.FINISHED
        return Outcome(task)
    if task["kill_requested"]:
        task["state"] = State.KILLED
        return Outcome(task)
    fault = M.TASK_LOST if status.state == M.TASK_KILLED else status.state
    task, retried = _retry_or_fail(task, fault, now)
    return Outcome(task, retried=retried)


def _reported_after_end(task: Task, attempt: Attempt, status: TaskStatus, now: float) -> Outcome:
    """Mesos reports an attempt Hippo has ended: note it, and kill it if it still runs.

    Its own ``state`` keeps how Hippo ended it; what Mesos says goes beside it. A repeat
    changes nothing but still asks for the kill, so a kill lost in a crash is asked again.
    """
    kill = None
    if status.state in NON_TERMINAL_MESOS:
        kill = (status.task_id, status.agent_id or attempt["agent_id"])
    if attempt.get("reported_state") == status.state:
        return Outcome(None, kill=kill)
    attempt["reported_state"] = status.state
    _touch(task, now)
    return Outcome(task, kill=kill)


def launch_refused(task: Task, message: str, now: float | None = None) -> Outcome:
    """The launch never reached an agent (offer gone, call refused): a system failure."""
    now = time.time() if now is None else now
    if task["state"] not in (State.PENDING, State.STAGING):
        return Outcome(None, refused=f"launch refusal for a task in {task['state']}")
    _touch(task, now)
    _end_attempt(task, LAUNCH_REFUSED, now, message=message)
    if task["kill_requested"]:
        task["state"] = State.KILLED
        return Outcome(task)
    task, retried = _retry_or_fail(task, LAUNCH_REFUSED, now)
    return Outcome(task, retried=retried)


def refuse_invalid(task: Task, message: str, now: float | None = None) -> Outcome:
    """The backend could never run this definition: FAILED at once, no retry spent on it.

    The attempt ends TASK_ERROR with REASON_TASK_INVALID, as a Mesos master answers a
    task it refuses; a re-run through the API is checked again.
    """
    now = time.time() if now is None else now
    if task["state"] != State.PENDING:
        return Outcome(None, refused=f"an invalid definition found for a task in {task['state']}")
    _touch(task, now)
    _end_attempt(task, M.TASK_ERROR, now, reason="REASON_TASK_INVALID", message=message)
    task["state"] = State.FAILED
    return Outcome(task)


def give_up_unreachable(task: Task, now: float | None = None) -> Outcome:
    """An UNREACHABLE task did not come back in time: retry it and kill the old attempt."""
    now = time.time() if now is None else now
    old = current_attempt(task)
    unreachable = task["state"] == State.UNREACHABLE or (
        task["state"] == State.KILLING and old.get("unreachable_at") is not None
    )
    if not unreachable:
        return Outcome(None, refused=f"task is {task['state']}, not UNREACHABLE")
    kill = (old["mesos_id"], old["agent_id"])
    _touch(task, now)
    _end_attempt(task, UNREACHABLE_TIMEOUT, now, message="unreachable for too long")
    if task["kill_requested"]:
        # Asked to be killed: it is over for Hippo; the kill stands for when the agent is back.
        task["state"] = State.KILLED
        return Outcome(task, kill=kill)
    task, retried = _retry_or_fail(task, UNREACHABLE_TIMEOUT, now)
    return Outcome(task, kill=kill, retried=retried)


def request_kill(task: Task, now: float | None = None) -> Outcome:
    """A kill asked through the API. PENDING ends at once; active tasks go KILLING."""
    now = time.time() if now is None else now
    state = task["state"]
    if state in TERMINAL_STATES or (state == State.KILLING and task["kill_requested"]):
        return Outcome(None)
    if state == State.KILLING:
        # Mesos was already killing it (an agent drain): now it is Hippo's kill, not a fault.
        _touch(task, now)
        task["kill_requested"] = True
        return Outcome(task)
    _touch(task, now)
    task["kill_requested"] = True
    attempt = current_attempt(task)
    if state == State.PENDING:
        _end_attempt(task, M.TASK_KILLED, now, message="killed before launch")
        task["state"] = State.KILLED
        return Outcome(task)
    task["state"] = State.KILLING
    return Outcome(task, kill=(attempt["mesos_id"], attempt["agent_id"]))


def unlaunch(task: Task, now: float | None = None) -> Task | None:
    """STAGING -> PENDING for a launch that was never sent (the backend was not connected)."""
    now = time.time() if now is None else now
    if task["state"] != State.STAGING or task["kill_requested"]:
        return None
    attempt = current_attempt(task)
    attempt.update(
        {
            "state": WAITING_ON_OFFERS,
            "agent_id": None,
            "hostname": None,
            "launched_at": None,
            "attributes": {},
        }
    )
    task.update(
        {"state": State.PENDING, "mesos_state": WAITING_ON_OFFERS, "mesos_agent": None, "hostname": None}
    )
    _touch(task, now)
    return task


def rerun(task: Task, now: float | None = None) -> Outcome:
    """Run an ended task again: a new attempt with its retry budgets restored."""
    now = time.time() if now is None else now
    if task["state"] not in TERMINAL_STATES:
        return Outcome(None, refused=f"task is {task['state']}; only ended tasks can be re-run")
    _touch(task, now)
    _new_attempt(task, now)
    task.update(
        {
            "reason": None,
            "message": None,
            "kill_requested": False,
            "task_retries_used": 0,
            "system_retries_used": 0,
        }
    )
    return Outcome(task, retried=True)


def apply_event(
    update: Callable[..., Task | None],
    ident: str,
    event: Callable[[Task], Outcome],
    **options: Any,
) -> Outcome | None:
    """Run ``event`` on the stored task through ``update`` (``Store.update_task`` or
    ``Store.update_task_of_attempt``, given ``ident`` and ``options``).

    The kill the outcome asks for is written in the same transaction as the task. The
    updater may call the change more than once when the task changed concurrently; the
    outcome of the run that was stored is returned, or ``None`` when the updater found
    no task to change.
    """
    outcomes: list[Outcome] = []

    def change(task: Task) -> Task | None:
        outcomes.append(event(task))
        return outcomes[-1].task

    def kills() -> list[tuple[str, str | None]]:
        kill = outcomes[-1].kill if outcomes else None
        return [kill] if kill else []

    update(ident, change, kills=kills, **options)
    return outcomes[-1] if outcomes else None
