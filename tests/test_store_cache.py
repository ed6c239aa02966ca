"""A worker's store keeps the records it last saw: its next write of one is one round trip."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from hippo_core import states
from hippo_core.backend import TaskStatus
from hippo_core.errors import NotFound
from hippo_core.store import Store


@pytest.fixture
def cached(redis_url: str) -> Any:
    store = Store.from_url(redis_url)
    store.cache_records(100)
    yield store
    store.close()


@pytest.fixture
def other(redis_url: str) -> Any:
    """Another process's store (the API's), writing the same tasks."""
    store = Store.from_url(redis_url)
    yield store
    store.close()


def _task(family: str = "fam") -> dict:
    definition = {"cmd": "true", "cpus": 0.1, "mem": 32, "container": {}, "env": {}, "constraints": []}
    definition.update(task_retries=0, system_retries=0, max_concurrent=10)
    return states.new_task(definition, family=family, queue_id=None, data="")


def _commands(redis_client: Any, action: Any) -> list[str]:
    """The commands clients sent while ``action`` ran (not those run inside scripts), lowercase."""
    marker = f"end-of-action-{uuid.uuid4()}"
    sent = []
    with redis_client.monitor() as monitor:
        action()
        redis_client.echo(marker)
        while True:
            command = monitor.next_command()
            if marker in command["command"]:
                return sent
            if command.get("client_type") != "lua":
                sent.append(command["command"].split(" ", 1)[0].strip('"').lower())


def _running(task: dict) -> Any:
    status = TaskStatus(task["attempts"][-1]["mesos_id"], "TASK_RUNNING", agent_id="agent-1")
    return lambda t: states.apply_status(t, status)


def test_writing_a_record_it_saw_takes_one_script_call(cached: Store, redis_client: Any) -> None:
    warm = _task("warm-up")  # Redis learns the script once (a NOSCRIPT answer, then SCRIPT LOAD)
    cached.create_tasks([warm])
    cached.update_task(warm["mesos_id"], lambda t: {**t, "message": "hi"})
    task = _task()
    cached.create_tasks([task])
    sent = _commands(
        redis_client,
        lambda: cached.update_task(task["mesos_id"], lambda t: states.mark_launched(t, "agent-1", "host-1")),
    )
    assert sent.count("evalsha") == 1 and "get" not in sent and "hget" not in sent
    launched = cached.get_task(task["mesos_id"])
    sent = _commands(
        redis_client,
        lambda: states.apply_event(cached.update_task_of_attempt, task["mesos_id"], _running(launched)),
    )
    # Found by its attempt without asking Redis which task that is.
    assert sent.count("evalsha") == 1 and "hget" not in sent
    assert cached.get_task(task["mesos_id"])["state"] == "RUNNING"


def test_a_record_changed_by_someone_else_is_written_from_its_current_state(
    cached: Store, other: Store
) -> None:
    task = _task()
    cached.create_tasks([task])
    cached.update_task(task["mesos_id"], lambda t: states.mark_launched(t, "agent-1", "host-1"))
    # The API kills it meanwhile: the worker's copy is stale.
    states.apply_event(other.update_task, task["mesos_id"], states.request_kill)
    launched = other.get_task(task["mesos_id"])
    assert launched["state"] == "KILLING"
    stored = states.apply_event(cached.update_task_of_attempt, task["mesos_id"], _running(launched))
    assert stored is not None and stored.task is not None
    # The update applied to the killed record, not the stale one: still KILLING, kill kept.
    final = other.get_task(task["mesos_id"])
    assert (final["state"], final["kill_requested"], final["mesos_state"]) == (
        "KILLING",
        True,
        "TASK_RUNNING",
    )
    kinds = [e["kind"] for e in other.task_history(task["mesos_id"])]
    assert kinds == ["task.created", "task.STAGING", "task.kill_requested", "task.KILLING"]


def test_a_task_deleted_elsewhere_is_gone_for_the_cache_too(cached: Store, other: Store) -> None:
    task = _task()
    cached.create_tasks([task])
    other.delete_task(task["mesos_id"])
    with pytest.raises(NotFound):
        cached.update_task(task["mesos_id"], lambda t: t)
    assert cached.update_task_of_attempt(task["mesos_id"], lambda t: t) is None


def test_the_cache_is_bounded(redis_url: str) -> None:
    store = Store.from_url(redis_url)
    store.cache_records(3)
    try:
        tasks = [_task(f"f{i}") for i in range(5)]
        store.create_tasks(tasks)
        assert store._cache is not None
        assert [store._cache.raw(t["mesos_id"]) is not None for t in tasks] == [
            False,
            False,
            True,
            True,
            True,
        ]
    finally:
        store.close()
