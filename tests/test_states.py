"""The task state machine, case by case: every Hippo state against every Mesos update."""

from __future__ import annotations

import copy

import pytest

from hippo_core import states
from hippo_core.backend import TaskStatus
from hippo_core.taskstate import LAUNCH_REFUSED, WAITING_ON_OFFERS, State

DEFINITION = {
    "cmd": "true",
    "cpus": 0.1,
    "mem": 32,
    "container": {"docker": {"image": "busybox"}},
    "env": {"N": 1},
    "constraints": [],
    "max_concurrent": 10,
    "task_retries": 1,
    "system_retries": 1,
}
NOW = 1000.0

# The system's failures: a retry from system_retries.
SYSTEM_FAULTS = [
    "TASK_LOST",
    "TASK_ERROR",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
    "TASK_UNKNOWN",
]


def task_in(state: str, **overrides: object) -> dict:
    """A task that reached ``state`` the way the worker would have got it there."""
    task = states.new_task(DEFINITION, family="fam", queue_id=None, data="x", now=NOW)
    task.update(overrides)
    if state == State.PENDING:
        return task
    states.mark_launched(task, "agent-1", "host1", {"rack": "r1"}, now=NOW)
    mesos = {
        State.STAGING: None,
        State.STARTING: "TASK_STARTING",
        State.RUNNING: "TASK_RUNNING",
        State.UNREACHABLE: "TASK_UNREACHABLE",
        State.KILLING: "TASK_RUNNING",
        State.FINISHED: "TASK_FINISHED",
        State.FAILED: "TASK_FAILED",
        State.KILLED: "TASK_RUNNING",
    }[state]
    if state == State.FAILED:
        task["task_retries"] = 0
    if mesos:
        task = states.apply_status(task, status(task, mesos)).task
    if state in (State.KILLING, State.KILLED):
        task = states.request_kill(task, now=NOW).task
    if state == State.KILLED:
        task = states.apply_status(task, status(task, "TASK_KILLED")).task
    assert task["state"] == state
    return task


def status(task: dict, mesos_state: str, attempt: int = -1, **kw: object) -> TaskStatus:
    return TaskStatus(
        task_id=task["attempts"][attempt]["mesos_id"],
        state=mesos_state,
        agent_id="agent-1",
        hostname="host1",
        **kw,
    )


ACTIVE = [State.STAGING, State.STARTING, State.RUNNING, State.UNREACHABLE]

# (state before, Mesos update, state after or "refused" / "unchanged", what it proves)
TRANSITIONS = [
    *[
        (s, "TASK_RUNNING", State.RUNNING, "RUNNING is reachable from every earlier active state")
        for s in (State.PENDING, State.STAGING, State.STARTING, State.UNREACHABLE)
    ],
    (State.RUNNING, "TASK_RUNNING", "unchanged", "a repeated RUNNING (reconciliation) changes nothing"),
    (State.STAGING, "TASK_STARTING", State.STARTING, "STAGING moves on to STARTING"),
    (State.RUNNING, "TASK_STARTING", "refused", "no going back from RUNNING to STARTING"),
    (State.RUNNING, "TASK_STAGING", "refused", "no going back from RUNNING to STAGING"),
    (State.STARTING, "TASK_STAGING", "refused", "no going back from STARTING to STAGING"),
    (State.RUNNING, "TASK_UNREACHABLE", State.UNREACHABLE, "a partitioned agent makes it UNREACHABLE"),
    *[(s, "TASK_FINISHED", State.FINISHED, "finishing ends it from any active state") for s in ACTIVE],
    *[(s, "TASK_FAILED", State.PENDING, "a failure with task_retries left is retried") for s in ACTIVE],
    *[
        (s, m, State.PENDING, f"{m} is a system failure, retried with system_retries")
        for s in ACTIVE
        for m in SYSTEM_FAULTS
    ],
    (State.RUNNING, "TASK_KILLED", State.PENDING, "a kill Hippo did not ask for is a system failure"),
    (State.KILLING, "TASK_KILLED", State.KILLED, "a kill Hippo asked for ends KILLED"),
    (State.KILLING, "TASK_FAILED", State.KILLED, "a task dying while being killed is not retried"),
    (State.KILLING, "TASK_LOST", State.KILLED, "a task lost while being killed is not retried"),
    (State.KILLING, "TASK_FINISHED", State.FINISHED, "a task that finished first keeps its true state"),
    (State.KILLING, "TASK_RUNNING", State.KILLING, "RUNNING while being killed stays KILLING"),
    *[
        (s, "TASK_LOST", "refused", f"{s} is final: another ending is refused")
        for s in (State.FINISHED, State.FAILED, State.KILLED)
    ],
    *[
        (s, m, "killed", f"{s} is final: an attempt reported {m} after it ended is killed")
        for s in (State.FINISHED, State.FAILED, State.KILLED)
        for m in ("TASK_RUNNING", "TASK_STAGING")
    ],
    (State.FINISHED, "TASK_FINISHED", "unchanged", "a re-sent final update is a repeat, not an error"),
    (State.FAILED, "TASK_FAILED", "unchanged", "a re-sent TASK_FAILED is a repeat, not an error"),
]


@pytest.mark.parametrize(("before", "update", "after", "why"), TRANSITIONS)
def test_transition(before: str, update: str, after: str, why: str) -> None:
    task = task_in(before)
    original = copy.deepcopy(task)
    outcome = states.apply_status(task, status(task, update), now=NOW + 5)
    if after == "refused":
        assert outcome.refused, why
        assert outcome.task is None
    elif after == "killed":
        assert outcome.refused is None, why
        assert outcome.kill == (task["attempts"][-1]["mesos_id"], "agent-1"), why
        assert outcome.task["state"] == before, why
        assert outcome.task["attempts"][-1]["reported_state"] == update
        again = states.apply_status(outcome.task, status(outcome.task, update), now=NOW + 6)
        assert again.task is None and again.kill == outcome.kill, "a repeat asks for the kill again"
    elif after == "unchanged":
        assert outcome.task is None or outcome.task["state"] == original["state"], why
        assert not outcome.refused
    else:
        assert outcome.refused is None, why
        assert outcome.task["state"] == after, why


# (fault, budget that must be spent, counter, what it proves)
RETRY_BUDGETS = [
    ("TASK_FAILED", "task_retries", "task_retries_used", "the task's own failure"),
    ("TASK_LOST", "system_retries", "system_retries_used", "a lost task"),
    ("TASK_ERROR", "system_retries", "system_retries_used", "a task Mesos could not start"),
    ("TASK_DROPPED", "system_retries", "system_retries_used", "a launch dropped by the master"),
    ("TASK_GONE", "system_retries", "system_retries_used", "an agent that is gone"),
    ("TASK_KILLED", "system_retries", "system_retries_used", "a kill Hippo did not ask for"),
]


@pytest.mark.parametrize(("fault", "budget", "counter", "why"), RETRY_BUDGETS)
@pytest.mark.parametrize("retries", [0, 1, 3])
def test_each_fault_spends_its_own_budget(
    fault: str, budget: str, counter: str, why: str, retries: int
) -> None:
    task = task_in(State.RUNNING, **{budget: retries})
    runs = 0
    while True:
        runs += 1
        outcome = states.apply_status(task, status(task, fault), now=NOW + runs)
        task = outcome.task
        if task["state"] != State.PENDING:
            break
        assert outcome.retried
        states.mark_launched(task, "agent-2", "host2", now=NOW + runs)
    assert runs == retries + 1, why
    assert task["state"] == State.FAILED
    assert task[counter] == retries
    other = "system_retries_used" if counter == "task_retries_used" else "task_retries_used"
    assert task[other] == 0
    assert [a["state"] for a in task["attempts"]] == [fault] * (retries + 1)
    assert len({a["mesos_id"] for a in task["attempts"]}) == retries + 1, "each attempt has its own id"
    assert all(a["mesos_id"].startswith("fam.") for a in task["attempts"])


def test_attempt_records_where_and_when() -> None:
    task = task_in(State.RUNNING)
    outcome = states.apply_status(
        task,
        status(
            task,
            "TASK_FAILED",
            reason="REASON_COMMAND_EXECUTOR_FAILED",
            message="exit 1",
            source="SOURCE_EXECUTOR",
        ),
        now=NOW + 9,
    )
    first = outcome.task["attempts"][0]
    assert first["agent_id"] == "agent-1" and first["hostname"] == "host1"
    assert first["reason"] == "REASON_COMMAND_EXECUTOR_FAILED"
    assert first["message"] == "exit 1"
    assert first["source"] == "SOURCE_EXECUTOR"
    assert first["launched_at"] == NOW and first["running_at"] is not None and first["ended_at"] == NOW + 9
    second = outcome.task["attempts"][1]
    assert second["state"] == WAITING_ON_OFFERS and second["n"] == 2
    assert outcome.task["mesos_state"] == WAITING_ON_OFFERS


def test_stale_attempt_that_reappears_running_is_killed() -> None:
    task = task_in(State.RUNNING)
    task = states.apply_status(task, status(task, "TASK_LOST"), now=NOW + 1).task
    assert len(task["attempts"]) == 2
    outcome = states.apply_status(task, status(task, "TASK_RUNNING", attempt=0), now=NOW + 2)
    assert outcome.kill == (task["attempts"][0]["mesos_id"], "agent-1")
    assert outcome.task["state"] == State.PENDING, "the current attempt is not disturbed"


def test_update_for_unknown_attempt_is_refused() -> None:
    task = task_in(State.RUNNING)
    outcome = states.apply_status(task, TaskStatus("fam.nope", "TASK_RUNNING"))
    assert outcome.refused and outcome.task is None


# (state, what a kill does, what it proves)
KILLS = [
    (State.PENDING, State.KILLED, False, "a pending task ends at once, nothing to send"),
    (State.STAGING, State.KILLING, True, "an active task is killed on its agent"),
    (State.RUNNING, State.KILLING, True, "an active task is killed on its agent"),
    (State.UNREACHABLE, State.KILLING, True, "an unreachable task is killed too"),
    (State.KILLING, None, False, "a second kill changes nothing"),
    (State.FINISHED, None, False, "an ended task is left as it is"),
    (State.KILLED, None, False, "an ended task is left as it is"),
]


@pytest.mark.parametrize(("before", "after", "sends_kill", "why"), KILLS)
def test_kill(before: str, after: str | None, sends_kill: bool, why: str) -> None:
    task = task_in(before)
    outcome = states.request_kill(task, now=NOW + 1)
    if after is None:
        assert outcome.task is None, why
    else:
        assert outcome.task["state"] == after, why
        assert outcome.task["kill_requested"]
    assert (outcome.kill is not None) == sends_kill, why
    if sends_kill:
        assert outcome.kill == (task["attempts"][-1]["mesos_id"], "agent-1")


def test_killed_task_is_never_retried() -> None:
    task = task_in(State.KILLING, task_retries=5, system_retries=5)
    for fault in ("TASK_FAILED", "TASK_LOST", "TASK_KILLED"):
        outcome = states.apply_status(copy.deepcopy(task), status(task, fault))
        assert outcome.task["state"] == State.KILLED
        assert len(outcome.task["attempts"]) == 1


def test_launch_refused_spends_a_system_retry() -> None:
    task = task_in(State.STAGING)
    outcome = states.launch_refused(task, "offer rescinded", now=NOW + 1)
    assert outcome.retried and outcome.task["state"] == State.PENDING
    assert outcome.task["system_retries_used"] == 1
    assert outcome.task["attempts"][0]["state"] == LAUNCH_REFUSED
    states.mark_launched(outcome.task, "agent-1", "host1", now=NOW + 2)
    final = states.launch_refused(outcome.task, "offer rescinded", now=NOW + 3)
    assert final.task["state"] == State.FAILED


def test_unreachable_too_long_retries_and_kills_the_old_attempt() -> None:
    task = task_in(State.UNREACHABLE)
    old = task["attempts"][0]
    assert old["unreachable_at"] is not None
    outcome = states.give_up_unreachable(task, now=NOW + 1000)
    assert outcome.kill == (old["mesos_id"], "agent-1")
    assert outcome.task["state"] == State.PENDING
    assert outcome.task["system_retries_used"] == 1


def test_unreachable_clock_stops_when_the_task_is_back() -> None:
    task = task_in(State.UNREACHABLE)
    task = states.apply_status(task, status(task, "TASK_RUNNING"), now=NOW + 3).task
    assert task["state"] == State.RUNNING
    assert task["attempts"][-1]["unreachable_at"] is None
    assert states.give_up_unreachable(task).refused


@pytest.mark.parametrize("ended", [State.FINISHED, State.FAILED, State.KILLED])
def test_rerun_of_an_ended_task_is_a_new_attempt_with_budgets_restored(ended: str) -> None:
    task = task_in(ended)
    outcome = states.rerun(task, now=NOW + 1)
    assert outcome.task["state"] == State.PENDING
    assert outcome.task["kill_requested"] is False
    assert outcome.task["task_retries_used"] == 0 and outcome.task["system_retries_used"] == 0
    assert len(outcome.task["attempts"]) == 2


@pytest.mark.parametrize("active", [State.PENDING, *ACTIVE, State.KILLING])
def test_rerun_of_a_task_not_ended_is_refused(active: str) -> None:
    assert states.rerun(task_in(active)).refused


def test_new_task_turns_env_numbers_into_strings() -> None:
    task = states.new_task(DEFINITION, family="fam", queue_id="q", data="d", now=NOW)
    assert task["env"] == {"N": "1"}
    assert task["mesos_id"].startswith("fam.") and task["attempts"][0]["mesos_id"] == task["mesos_id"]
    assert task["state"] == State.PENDING and task["mesos_state"] == WAITING_ON_OFFERS


def test_kill_of_a_task_mesos_is_already_killing_becomes_hippos_own() -> None:
    task = task_in(State.RUNNING)
    task = states.apply_status(task, status(task, "TASK_KILLING"), now=NOW + 1).task
    assert task["state"] == State.KILLING and not task["kill_requested"]
    outcome = states.request_kill(task, now=NOW + 2)
    assert outcome.task["kill_requested"], "so the TASK_KILLED that follows is not retried"
    ended = states.apply_status(outcome.task, status(outcome.task, "TASK_KILLED"), now=NOW + 3).task
    assert ended["state"] == State.KILLED and len(ended["attempts"]) == 1


def test_killing_task_unreachable_too_long_ends_killed_and_keeps_its_kill() -> None:
    task = task_in(State.UNREACHABLE)
    task = states.request_kill(task, now=NOW + 1).task
    assert task["state"] == State.KILLING
    outcome = states.give_up_unreachable(task, now=NOW + 1000)
    assert outcome.task["state"] == State.KILLED
    assert outcome.kill == (task["attempts"][0]["mesos_id"], "agent-1")
    assert len(outcome.task["attempts"]) == 1, "a killed task is not retried"


def test_unlaunch_puts_a_launch_never_sent_back_to_pending_without_spending_a_retry() -> None:
    task = task_in(State.STAGING)
    back = states.unlaunch(task, now=NOW + 1)
    assert back["state"] == State.PENDING and back["mesos_state"] == WAITING_ON_OFFERS
    assert len(back["attempts"]) == 1 and back["system_retries_used"] == 0
    assert back["attempts"][0]["agent_id"] is None
    assert states.unlaunch(task_in(State.RUNNING)) is None


@pytest.mark.parametrize(
    ("mesos_state", "ends"),
    [
        ("TASK_RUNNING", False),
        ("TASK_UNREACHABLE", False),
        ("TASK_KILLING", False),
        ("TASK_FINISHED", True),
        ("TASK_KILLED", True),
        ("TASK_UNKNOWN", True),
        ("TASK_GONE", True),
    ],
)
def test_which_mesos_states_end_an_attempt(mesos_state: str, ends: bool) -> None:
    assert states.ends_attempt(mesos_state) is ends


@pytest.mark.parametrize(
    ("before", "after", "why"),
    [
        (State.PENDING, State.FAILED, "a definition the backend could never run fails before launch"),
        (State.RUNNING, None, "a launched task is not judged again"),
        (State.FINISHED, None, "nor an ended one"),
    ],
)
def test_an_invalid_definition_fails_without_spending_retries(before, after, why) -> None:
    task = task_in(before, task_retries=3, system_retries=3)
    outcome = states.refuse_invalid(copy.deepcopy(task), "$.cmd: too long", now=NOW + 1)
    if after is None:
        assert outcome.task is None and outcome.refused, why
        return
    assert outcome.task["state"] == after, why
    attempt = outcome.task["attempts"][-1]
    assert (attempt["state"], attempt["reason"], attempt["message"]) == (
        "TASK_ERROR",
        "REASON_TASK_INVALID",
        "$.cmd: too long",
    )
    assert len(outcome.task["attempts"]) == 1
    assert outcome.task["task_retries_used"] == outcome.task["system_retries_used"] == 0
