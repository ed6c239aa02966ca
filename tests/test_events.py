"""The event hook: what each write publishes, once, and that no subscriber can break a write."""

from __future__ import annotations

import copy
import logging

import pytest

from hippo_core import events, states
from hippo_core.backend import TaskStatus
from hippo_core.events import Event, EventBus, queue_events, task_events
from hippo_core.taskstate import State

NOW = 1_700_000_000.0


def pending(**fields) -> dict:
    definition = {"cmd": "true", "container": {"docker": {"image": "busybox"}}, "cpus": 0.1, "mem": 32}
    return states.new_task({**definition, **fields}, family="fam", queue_id="q1", data="", now=NOW)


def launched() -> dict:
    return states.mark_launched(pending(task_retries=1), "agent-1", "host1", now=NOW)


def running() -> dict:
    task = launched()
    status = TaskStatus(task["mesos_id"], "TASK_RUNNING", agent_id="agent-1")
    return states.apply_status(task, status, now=NOW).task


def failed_with_retry() -> dict:
    task = running()
    status = TaskStatus(
        task["mesos_id"], "TASK_FAILED", reason="REASON_COMMAND_EXECUTOR_FAILED", message="exit 3"
    )
    return states.apply_status(copy.deepcopy(task), status, now=NOW).task


@pytest.mark.parametrize(
    ("old", "new", "kinds", "why"),
    [
        (None, pending, ["task.created"], "a new record is one creation"),
        (pending, launched, ["task.STAGING"], "a state change names the new state"),
        (launched, running, ["task.RUNNING"], "every state the task enters"),
        (running, failed_with_retry, ["task.retry", "task.PENDING"], "a retry, then the state it waits in"),
        (
            running,
            lambda: states.request_kill(running()).task,
            ["task.kill_requested", "task.KILLING"],
            "a kill",
        ),
        (running, None, ["task.deleted"], "a deleted record"),
        (running, running, [], "a write that changed no state publishes nothing"),
    ],
)
def test_a_task_write_publishes_what_changed(old, new, kinds, why):
    before = old() if old else None
    after = new() if new else None
    assert [e.kind for e in task_events(before, after, now=NOW)] == kinds, why


def test_a_retry_says_how_the_old_attempt_ended_and_which_attempt_waits():
    (retry, _) = task_events(running(), failed_with_retry(), now=NOW)
    assert (retry.attempt, retry.state) == (2, "PENDING")
    assert (retry.mesos_state, retry.reason, retry.message) == (
        "TASK_FAILED",
        "REASON_COMMAND_EXECUTOR_FAILED",
        "exit 3",
    )


def test_the_payload_is_one_json_object_of_the_fields_that_are_set():
    (event,) = task_events(pending(), launched(), now=NOW)
    assert event.to_json() == {
        "kind": "task.STAGING",
        "time": NOW,
        "task_id": event.task_id,
        "family": "fam",
        "queue_id": "q1",
        "state": "STAGING",
        "attempt": 1,
        "attempt_id": event.task_id,
        "mesos_state": "TASK_STAGING",
        "agent": "agent-1",
        "hostname": "host1",
    }


def queue(status: str = "ENABLED", name: str = "jobs") -> dict:
    return {"id": "q1", "cmd": "true", "queue": {"name": name, "status": status}, "updated_at": NOW}


@pytest.mark.parametrize(
    ("old", "new", "kinds"),
    [
        (None, queue(), ["queue.created"]),
        (queue(), None, ["queue.deleted"]),
        (queue(), queue("DISABLED"), ["queue.disabled"]),
        (queue("DISABLED"), queue(), ["queue.enabled"]),
        (queue(), queue(name="renamed"), ["queue.updated"]),
        (queue(), queue("DISABLED", name="renamed"), ["queue.disabled", "queue.updated"]),
    ],
)
def test_a_queue_write_publishes_what_changed(old, new, kinds):
    assert [e.kind for e in queue_events(old, new, now=NOW)] == kinds


def test_a_failing_subscriber_is_logged_and_the_others_still_hear(caplog):
    bus = EventBus()
    heard: list[str] = []

    def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    bus.subscribe(lambda e: heard.append(e.kind))
    with caplog.at_level(logging.ERROR, logger="hippo_core.events"):
        bus.publish(Event("task.created"), Event("task.RUNNING"))  # does not raise
    assert heard == ["task.created", "task.RUNNING"]
    assert "subscriber bug" in caplog.text and "task.created" in caplog.text


def test_unsubscribed_handlers_hear_nothing_more():
    bus = EventBus()
    heard: list[str] = []
    unsubscribe = bus.subscribe(lambda e: heard.append(e.kind))
    bus.publish(Event("a"))
    unsubscribe()
    bus.publish(Event("b"))
    assert heard == ["a"]


# -- the store publishes each write once --------------------------------------------------


def test_api_writes_publish_once_each(client, task_body, queue_body, hippo_events):
    task = client.simulate_post("/tasks/", json=task_body(id="once")).json
    client.simulate_post(f"/tasks/{task['mesos_id']}/kill/")
    client.simulate_delete(f"/tasks/{task['mesos_id']}/")
    created = client.simulate_post("/queues/", json=queue_body()).json
    client.simulate_post(f"/queues/{created['id']}/toggle/")
    client.simulate_put(f"/queues/{created['id']}/", json={**queue_body(), "cmd": "echo changed"})
    client.simulate_delete(f"/queues/{created['id']}/")
    assert [e.kind for e in hippo_events] == [
        "task.created",
        "task.kill_requested",
        "task.KILLED",
        "task.deleted",
        "queue.created",
        "queue.disabled",
        "queue.enabled",
        "queue.updated",
        "queue.deleted",
    ]
    assert {e.task_id for e in hippo_events[:4]} == {task["mesos_id"]}


def test_a_write_with_a_broken_subscriber_still_stores(client, task_body, store):
    def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    unsubscribe = events.subscribe(broken)
    try:
        result = client.simulate_post("/tasks/", json=task_body(id="stored"))
    finally:
        unsubscribe()
    assert result.status_code == 201
    assert store.get_task(result.json["mesos_id"])["state"] == State.PENDING
