"""``GET /tasks/{id}/events/``: a task's history, written with each change of the task."""

from __future__ import annotations

import itertools
import json

import jsonschema
import pytest

from hippo_core import schemas, states
from hippo_core.backend import TaskStatus
from hippo_core.journal import EventsSettings
from hippo_core.store import Store

from .conftest import Process, one_off

EVENT = jsonschema.Draft202012Validator(schemas.load("event"))


@pytest.mark.slow
def test_a_failing_task_tells_its_whole_story(hippo_up: Process) -> None:
    hippo_up.post("/tasks/", one_off("echo trying; exit 3", id="story", task_retries=1, system_retries=0))
    task = hippo_up.wait_task("story", ("FAILED",))
    first, second = (a["mesos_id"] for a in task["attempts"])

    body = hippo_up.get("/tasks/story/events/")
    assert body["task_id"] == task["mesos_id"]
    items = body["items"]
    for item in items:
        EVENT.validate(item)
    kinds = [e["kind"] for e in items]
    assert kinds[0] == "task.created"
    assert kinds[-1] == "task.FAILED"
    retry = next(e for e in items if e["kind"] == "task.retry")
    # How the first attempt ended, and whose fault it was; the new attempt's number.
    assert (retry["mesos_state"], retry["data"], retry["attempt"]) == ("TASK_FAILED", {"kind": "task"}, 2)
    assert retry["message"] == "exit code 3"
    # Every state each attempt went through, in order, with its attempt.
    running = [(e["attempt"], e["attempt_id"]) for e in items if e["kind"] == "task.RUNNING"]
    assert running == [(1, first), (2, second)]
    assert [e["kind"] for e in items].index("task.retry") < [e["kind"] for e in items].index("task.PENDING")
    assert all(e["time"] <= f["time"] for e, f in itertools.pairwise(items))
    assert items[-1]["mesos_state"] == "TASK_FAILED" and items[-1]["agent"]
    # Any id of the task addresses it, as on every task route.
    assert hippo_up.get(f"/tasks/{second}/events/") == body
    assert hippo_up.http.get(f"{hippo_up.url}/tasks/nobody/events/", timeout=10).status_code == 404


def _status(task: dict, state: str, **fields: str) -> TaskStatus:
    return TaskStatus(task["attempts"][-1]["mesos_id"], state, agent_id="agent-1", **fields)


def _launched(store: Store, family: str = "fam") -> dict:
    definition = {"cmd": "true", "cpus": 0.1, "mem": 32, "container": {}, "env": {}, "constraints": []}
    definition.update(task_retries=0, system_retries=0, max_concurrent=10)
    task = states.new_task(definition, family=family, queue_id=None, data="")
    store.create_tasks([task])
    return store.update_task(task["mesos_id"], lambda t: states.mark_launched(t, "agent-1", "host-1"))


def test_the_history_says_what_the_hook_heard(store: Store, hippo_events) -> None:
    task = _launched(store)
    for state in ("TASK_RUNNING", "TASK_FINISHED"):
        states.apply_event(
            store.update_task_of_attempt,
            task["attempts"][-1]["mesos_id"],
            lambda t, s=state: states.apply_status(t, _status(task, s, source="SOURCE_EXECUTOR")),
        )
    heard = [e.to_json() for e in hippo_events if e.task_id == task["mesos_id"]]
    assert store.task_history(task["mesos_id"]) == json.loads(json.dumps(heard))
    assert [e["kind"] for e in heard] == ["task.created", "task.STAGING", "task.RUNNING", "task.FINISHED"]
    assert heard[-1]["source"] == "SOURCE_EXECUTOR"


def test_a_write_that_lost_the_race_leaves_no_history(store: Store) -> None:
    """The change re-runs when the record changed meanwhile; only the stored run is in the history."""
    task = _launched(store)
    mesos_id = task["mesos_id"]
    raced = []

    def running(t: dict) -> dict:
        if not raced:
            raced.append(True)
            # Someone else writes in between: this run's write must not count.
            store.update_task(mesos_id, lambda other: {**other, "message": "meanwhile"})
        return states.apply_status(t, _status(task, "TASK_RUNNING")).task

    store.update_task(mesos_id, running)
    kinds = [e["kind"] for e in store.task_history(mesos_id)]
    assert kinds == ["task.created", "task.STAGING", "task.RUNNING"]


def test_the_history_is_bounded_and_goes_with_its_task(redis_client, redis_url: str) -> None:
    store = Store.from_url(redis_url, events_settings=EventsSettings(history_per_task=3))
    try:
        task = _launched(store)
        mesos_id = task["mesos_id"]
        for _ in range(3):
            states.apply_event(store.update_task, mesos_id, states.request_kill)
            store.update_task(mesos_id, lambda t: {**t, "kill_requested": False, "state": "RUNNING"})
        kinds = [e["kind"] for e in store.task_history(mesos_id)]
        assert len(kinds) == 3 and kinds[-1] == "task.RUNNING"  # the newest three
        store.delete_task(mesos_id, lambda t: None)
        assert store.task_history(mesos_id) == []
        assert not redis_client.exists(f"hippo:events:task:{mesos_id}")
    finally:
        store.close()


@pytest.mark.parametrize(
    ("ending", "kind"),
    [
        ("TASK_FAILED", "task"),  # its own failure: spends task_retries
        ("TASK_LOST", "system"),  # the cluster's: spends system_retries
        ("TASK_KILLED", "system"),  # killed without Hippo asking
        ("TASK_FINISHED", "rerun"),  # ended well, run again through the API
    ],
)
def test_a_retry_says_whose_failure_it_was(store: Store, ending: str, kind: str) -> None:
    task = _launched(store)
    definition_retries = {"task_retries": 1, "system_retries": 1}
    store.update_task(task["mesos_id"], lambda t: {**t, **definition_retries})
    states.apply_event(
        store.update_task_of_attempt,
        task["attempts"][-1]["mesos_id"],
        lambda t: states.apply_status(t, _status(task, ending)),
    )
    if ending == "TASK_FINISHED":
        states.apply_event(store.update_task, task["mesos_id"], states.rerun)
    retry = next(e for e in store.task_history(task["mesos_id"]) if e["kind"] == "task.retry")
    assert (retry["data"], retry["mesos_state"], retry["attempt"]) == ({"kind": kind}, ending, 2)
