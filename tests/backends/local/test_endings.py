"""How an exit code becomes a Mesos state, table-driven."""

from __future__ import annotations

import pytest

from hippo_core.backends.local.endings import Ending, exited

CASES = [
    # code, kill asked, oom, expected ending, what it proves
    (0, False, False, Ending("TASK_FINISHED", None, None, "SOURCE_EXECUTOR"), "success"),
    (0, True, False, Ending("TASK_FINISHED", None, None, "SOURCE_EXECUTOR"), "finished before the kill"),
    (
        3,
        False,
        False,
        Ending("TASK_FAILED", "REASON_COMMAND_EXECUTOR_FAILED", "exit code 3", "SOURCE_EXECUTOR"),
        "the task's own failure spends task_retries",
    ),
    (
        -9,
        False,
        False,
        Ending(
            "TASK_FAILED", "REASON_COMMAND_EXECUTOR_FAILED", "killed by signal SIGKILL", "SOURCE_EXECUTOR"
        ),
        "a signal nobody in Hippo sent (e.g. the OOM killer)",
    ),
    (
        -15,
        True,
        False,
        Ending("TASK_KILLED", None, "killed by Hippo (killed by signal SIGTERM)", "SOURCE_EXECUTOR"),
        "a kill Hippo asked for",
    ),
    (
        143,
        True,
        False,
        Ending("TASK_KILLED", None, "killed by Hippo (exit code 143)", "SOURCE_EXECUTOR"),
        "a shell that exits on SIGTERM with 128+15",
    ),
    (
        -99,
        False,
        False,
        Ending("TASK_FAILED", "REASON_COMMAND_EXECUTOR_FAILED", "killed by signal 99", "SOURCE_EXECUTOR"),
        "a signal without a name",
    ),
]


@pytest.mark.parametrize(
    ("code", "killed", "oom", "ending"), [c[:4] for c in CASES], ids=[c[4] for c in CASES]
)
def test_exit_codes(code, killed, oom, ending):
    assert exited(code, killed, oom, mem=64) == ending
