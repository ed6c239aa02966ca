"""How an attempt ended, in Mesos terms: a state, a reason, a message and who said so."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from hippo_core.taskstate import MesosState

EXECUTOR = "SOURCE_EXECUTOR"
AGENT = "SOURCE_AGENT"
MASTER = "SOURCE_MASTER"
LAUNCH_FAILED = "REASON_CONTAINER_LAUNCH_FAILED"
# `docker run` exits 125 when docker itself failed (no such image, a bad option).
DOCKER_FAILED = 125


@dataclass(frozen=True)
class Ending:
    state: MesosState
    reason: str | None
    message: str | None
    source: str


def exited(code: int, kill_requested: bool, docker: bool) -> Ending:
    """The ending of a process that exited with ``code`` (negative: killed by that signal)."""
    if code == 0:
        return Ending(MesosState.TASK_FINISHED, None, None, EXECUTOR)
    how = f"killed by signal {signal_name(-code)}" if code < 0 else f"exit code {code}"
    if kill_requested:
        return Ending(MesosState.TASK_KILLED, None, f"killed by Hippo ({how})", EXECUTOR)
    if docker and code == DOCKER_FAILED:
        return Ending(
            MesosState.TASK_ERROR,
            LAUNCH_FAILED,
            "docker run could not start the container (exit code 125); see the attempt's stderr",
            AGENT,
        )
    return Ending(MesosState.TASK_FAILED, "REASON_COMMAND_EXECUTOR_FAILED", how, EXECUTOR)


def launch_failed(message: str) -> Ending:
    """Nothing of the task ran: a failure of the system, not of the task."""
    return Ending(MesosState.TASK_ERROR, LAUNCH_FAILED, message, AGENT)


KILLED_BEFORE_START = Ending(
    MesosState.TASK_KILLED, "REASON_TASK_KILLED_DURING_LAUNCH", "killed before it started", AGENT
)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)
