"""What became of an attempt an earlier backend recorded: the first thing a starting backend asks.

An attempt recorded in ``<data_dir>/local`` (:mod:`.attempts`) is, when a backend
starts: *ended* (the backend or its runner wrote how), *running* (its runner is the
very process its pid file names), *lost* (no runner ever claimed it, or its runner
died without a word), or, in Docker, to be *reattached*: its runner died, but the
engine still has the container, so a new runner attaches to it or reads how it ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hippo_core.backends.local.attempts import AttemptRecord, AttemptRecords
from hippo_core.backends.local.endings import NEVER_STARTED
from hippo_core.backends.local.process import RunnerProcess, kill_leftovers

ENDED = "ended"
RUNNING = "running"
LOST = "lost"
REATTACH = "reattach"


@dataclass(frozen=True)
class Finding:
    """``kind`` (one of the above); ``exit_file``: the runner's report of an ended or lost
    attempt (``None`` if it left none); ``runner``: the adopted runner of a running one,
    ``started``: whether its command had started."""

    kind: str
    exit_file: Mapping[str, Any] | None = None
    runner: RunnerProcess | None = None
    started: bool = False


def assess(record: AttemptRecord, records: AttemptRecords) -> Finding:
    """What became of ``record``'s attempt. A plain task whose runner died is killed here:
    nothing would watch it any more."""
    if record.ending is not None:
        return Finding(ENDED)
    attempt = record.task_id
    exit_file = records.read(attempt, "exit")
    pid_file = records.read(attempt, "pid")
    if exit_file is None and pid_file is None:
        if records.abandon(attempt):
            return Finding(LOST, {"stage": NEVER_STARTED})
        pid_file = records.read(attempt, "pid")  # a runner claimed it just now
    if exit_file is not None:
        return Finding(LOST if exit_file.get("stage") == NEVER_STARTED else ENDED, exit_file)
    runner = RunnerProcess.adopt(pid_file) if pid_file is not None else None
    if runner is not None:
        return Finding(RUNNING, runner=runner, started=bool(pid_file and pid_file.get("running_at")))
    exit_file = records.read(attempt, "exit")  # it may have ended a moment ago
    if exit_file is not None:
        return Finding(ENDED, exit_file)
    if record.docker:
        return Finding(REATTACH)
    group = (pid_file or {}).get("group")
    if isinstance(group, int):
        kill_leftovers(attempt, group)
    return Finding(LOST)
