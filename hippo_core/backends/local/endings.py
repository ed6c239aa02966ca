"""How an attempt ended, in Mesos terms: a state, a reason, a message and who said so.

The runner's exit file (:mod:`.runner`) says what happened; :func:`from_runner` turns
that, and what the backend asked of the attempt, into the ending Hippo is told.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hippo_core.taskstate import MesosState

EXECUTOR = "SOURCE_EXECUTOR"
AGENT = "SOURCE_AGENT"
MASTER = "SOURCE_MASTER"
LAUNCH_FAILED = "REASON_CONTAINER_LAUNCH_FAILED"
# Why the backend asked a task to end (AttemptRecord.kill).
KILL_REQUESTED = "requested"
KILL_SHUTDOWN = "shutdown"
NEVER_STARTED = "never_started"
# What docker says when it has no such image and cannot pull it.
IMAGE_MISSING = (
    "Unable to find image",
    "No such image",
    "pull access denied",
    "manifest unknown",
    "repository does not exist",
)
ENGINE_UNREACHABLE = (
    "Cannot connect to the Docker daemon",
    "Is the docker daemon running",
    "error during connect",
)


@dataclass(frozen=True)
class Ending:
    state: MesosState
    reason: str | None
    message: str | None
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": str(self.state),
            "reason": self.reason,
            "message": self.message,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Ending:
        return cls(MesosState(data["state"]), data.get("reason"), data.get("message"), data["source"])


def exited(code: int, kill_requested: bool, oom: bool = False, mem: float | None = None) -> Ending:
    """The ending of a command that exited with ``code`` (negative: killed by that signal)."""
    if code == 0:
        return Ending(MesosState.TASK_FINISHED, None, None, EXECUTOR)
    how = f"killed by signal {signal_name(-code)}" if code < 0 else f"exit code {code}"
    if kill_requested:
        return Ending(MesosState.TASK_KILLED, None, f"killed by Hippo ({how})", EXECUTOR)
    if oom:
        limit = f" of {mem:g} MB" if mem is not None else ""
        return Ending(
            MesosState.TASK_FAILED,
            "REASON_CONTAINER_LIMITATION_MEMORY",
            f"out of memory: the container reached its memory limit{limit} ({how})",
            EXECUTOR,
        )
    return Ending(MesosState.TASK_FAILED, "REASON_COMMAND_EXECUTOR_FAILED", how, EXECUTOR)


def launch_failed(message: str) -> Ending:
    """Nothing of the task ran: a failure of the system, not of the task."""
    return Ending(MesosState.TASK_ERROR, LAUNCH_FAILED, message, AGENT)


def lost(message: str) -> Ending:
    return Ending(MesosState.TASK_LOST, "REASON_EXECUTOR_TERMINATED", message, AGENT)


def stopped_with_hippo(host: str, how: str) -> Ending:
    """Killed because Hippo itself stopped cleanly: not the task's fault (a system retry)."""
    return Ending(
        MesosState.TASK_KILLED,
        "REASON_EXECUTOR_TERMINATED",
        f"killed when Hippo stopped on {host} (a clean stop: Ctrl-C or SIGTERM; {how})",
        AGENT,
    )


KILLED_BEFORE_START = Ending(
    MesosState.TASK_KILLED, "REASON_TASK_KILLED_DURING_LAUNCH", "killed before it started", AGENT
)


def docker_refused(error: str | None, image: str | None, code: int | None) -> Ending:
    """``docker create`` failed: no such image, an option the engine refuses, or no engine."""
    detail = (error or f"exit code {code}").strip().splitlines()
    last = detail[-1] if detail else f"exit code {code}"
    text = "\n".join(detail)
    if any(marker in text for marker in ENGINE_UNREACHABLE):
        return launch_failed(f"the Docker engine did not answer: {last}")
    if any(marker in text for marker in IMAGE_MISSING):
        return Ending(
            MesosState.TASK_FAILED,
            LAUNCH_FAILED,
            f"image {image} is not on this machine and could not be pulled: {last}",
            AGENT,
        )
    return Ending(
        MesosState.TASK_FAILED, LAUNCH_FAILED, f"docker could not create the container: {last}", AGENT
    )


def from_runner(
    exit_file: Mapping[str, Any] | None,
    *,
    kill: str | None,
    host: str,
    image: str | None = None,
    mem: float | None = None,
    runner_log: str = "",
) -> Ending:
    """How an attempt ended, from its runner's exit file (``None``: the runner left none)."""
    if exit_file is None:
        if kill == KILL_SHUTDOWN:
            return stopped_with_hippo(host, "its runner ended without a report")
        if kill is not None:
            return Ending(
                MesosState.TASK_KILLED, None, "killed by Hippo (its runner ended without a report)", AGENT
            )
        why = f": {runner_log.splitlines()[-1]}" if runner_log.strip() else ""
        return lost(f"the process supervising it on {host} ended without saying how the task ended{why}")
    stage = exit_file.get("stage")
    code = exit_file.get("code")
    if stage == NEVER_STARTED:
        return lost(f"accepted on {host} but never started: Hippo stopped before it could start it")
    if kill == KILL_SHUTDOWN and not (stage == "run" and code == 0):
        return stopped_with_hippo(host, _how(code) if stage == "run" else "before it started")
    if stage == "spawn":
        return KILLED_BEFORE_START if kill else launch_failed(exit_file.get("error") or "could not start")
    if stage == "create":
        if kill or exit_file.get("stop_asked") or exit_file.get("kill_asked"):
            return KILLED_BEFORE_START
        return docker_refused(exit_file.get("error"), image, code)
    if stage == "start":
        return Ending(
            MesosState.TASK_FAILED,
            LAUNCH_FAILED,
            f"docker could not start the container: {exit_file.get('error')}",
            AGENT,
        )
    if stage == "adopt":
        return lost(f"its container was gone when Hippo came back on {host}: {exit_file.get('error')}")
    if not isinstance(code, int):
        return lost(f"its ending on {host} is unknown: {exit_file.get('error') or 'no exit code'}")
    return exited(code, kill is not None, bool(exit_file.get("oom")), mem)


def _how(code: Any) -> str:
    if not isinstance(code, int):
        return "exit code unknown"
    return f"killed by signal {signal_name(-code)}" if code < 0 else f"exit code {code}"


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)
