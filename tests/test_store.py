"""The Redis store against a real redis-server: records, indexes, atomic changes, leases."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from hippo_core import states
from hippo_core.backend import TaskStatus
from hippo_core.errors import NotFound
from hippo_core.store import Store
from hippo_core.taskstate import State

DEFINITION = {
    "cmd": "true",
    "container": {"docker": {"image": "busybox"}},
    "max_concurrent": 10,
    "task_retries": 0,
    "system_retries": 2,
}


def _queue(n: int) -> dict[str, Any]:
    return {"id": f"q{n}", "created_at": 100.0 + n, "queue": {"type": "memory", "status": "ENABLED"}}


def _task(family: str = "fam", n: int = 0, queue_id: str | None = None) -> dict[str, Any]:
    return states.new_task(DEFINITION, family, queue_id, data=str(n), now=1000.0 + n)


def _launch(task: dict[str, Any]) -> dict[str, Any]:
    return states.mark_launched(task, "agent-1", "host-1")


def test_needs_a_client_that_decodes() -> None:
    with pytest.raises(ValueError, match="decode_responses=True"):
        Store(redis.Redis())


# -- queues -------------------------------------------------------------------------------


def test_queues_are_listed_newest_first_with_paging(store: Store) -> None:
    for n in range(5):
        store.create_queue(_queue(n))
    page = store.list_queues(offset=1, limit=2)
    assert [q["id"] for q in page.items] == ["q3", "q2"]
    assert (page.total, page.offset, page.limit) == (5, 1, 2)
    assert store.queue_ids() == ["q0", "q1", "q2", "q3", "q4"]
    assert store.get_queue("q2") == _queue(2)
    assert [q["id"] for q in store.get_queues(["q4", "gone", "q0"])] == ["q4", "q0"]


def test_unknown_queue(store: Store) -> None:
    for call in (
        lambda: store.get_queue("nope"),
        lambda: store.delete_queue("nope"),
        lambda: store.update_queue("nope", lambda q: q),
    ):
        with pytest.raises(NotFound) as caught:
            call()
        assert (caught.value.kind, caught.value.ident) == ("queue", "nope")
    assert store.redis.keys("*") == []


def test_update_queue(store: Store) -> None:
    store.create_queue(_queue(1))

    def disable(q: dict[str, Any]) -> dict[str, Any]:
        q["queue"]["status"] = "DISABLED"
        return q

    assert store.update_queue("q1", disable)["queue"]["status"] == "DISABLED"
    assert store.get_queue("q1")["queue"]["status"] == "DISABLED"


def test_update_queue_is_redone_when_the_queue_changed_meanwhile(store: Store, redis_client) -> None:
    """Read-modify-write under WATCH: a concurrent write is never overwritten with stale data."""
    store.create_queue(_queue(1))
    calls = []

    def rename(q: dict[str, Any]) -> dict[str, Any]:
        calls.append(q["queue"].get("name"))
        if len(calls) == 1:  # someone else writes between our read and our write
            other = store.get_queue("q1")
            other["queue"]["name"] = "theirs"
            redis_client.set("hippo:queue:q1", json.dumps(other))
        q["queue"]["status"] = "DISABLED"
        return q

    new = store.update_queue("q1", rename)
    assert calls == [None, "theirs"]
    assert new["queue"] == {"type": "memory", "status": "DISABLED", "name": "theirs"}
    assert store.get_queue("q1") == new


def test_delete_queue_removes_its_state_and_index_entry(store: Store) -> None:
    store.create_queue(_queue(1))
    store.set_queue_state("q1", {"cursor": 5})
    assert store.get_queue_states(["q1", "q2"]) == [{"cursor": 5}, {}]
    store.delete_queue("q1")
    # Only the event stream stays: it tells watchers the queue was created and deleted.
    assert store.redis.keys("*") == ["hippo:events"]
    assert store.get_queue_states([]) == []


# -- tasks --------------------------------------------------------------------------------


def test_create_tasks_indexes_them_and_stores_the_cursor_with_them(store: Store) -> None:
    store.create_queue({"id": "q1", "created_at": 1.0, "queue": {"type": "memory"}})
    tasks = [_task("q1", n, queue_id="q1") for n in range(3)]
    assert store.create_tasks(tasks, queue_id="q1", queue_state={"cursor": 3})
    assert store.get_queue_states(["q1"]) == [{"cursor": 3}]
    assert store.get_tasks([t["mesos_id"] for t in tasks]) == tasks
    newest_first = [t["mesos_id"] for t in reversed(tasks)]
    for state, family in ((None, None), ("PENDING", None), (None, "q1"), ("PENDING", "q1")):
        assert [t["mesos_id"] for t in store.list_tasks(state=state, family=family).items] == newest_first
    assert store.list_tasks(state="RUNNING").items == []
    assert store.newest_of_family("q1") == newest_first[0]
    assert store.newest_of_family("nobody") is None
    assert store.task_for_attempt(tasks[1]["mesos_id"]) == tasks[1]["mesos_id"]
    assert store.task_ids("PENDING", limit=2) == [t["mesos_id"] for t in tasks[:2]]
    assert store.task_ids(family="q1", offset=1) == [t["mesos_id"] for t in tasks[1:]]
    assert (store.count(), store.count("PENDING", "q1"), store.count("RUNNING")) == (3, 3, 0)
    assert [q["id"] for q in store.get_queues(["q1", "gone"])] == ["q1"]


def test_tasks_of_a_deleted_queue_are_not_stored(store: Store) -> None:
    # A queue deleted while its source was polled: no tasks, no state come back for it.
    tasks = [_task("gone", n, queue_id="gone") for n in range(2)]
    assert store.create_tasks(tasks, queue_id="gone", queue_state={"cursor": 2}) is False
    assert store.set_queue_state("gone", {"cursor": 2}) is False
    assert store.redis.keys("*") == []


def test_update_task_moves_it_between_state_indexes(store: Store) -> None:
    task = _task("fam")
    store.create_tasks([task])
    mesos_id = task["mesos_id"]
    new = store.update_task(mesos_id, _launch)
    assert new["state"] == "STAGING"
    assert store.get_task(mesos_id) == new
    assert store.list_tasks(state="PENDING").total == 0
    assert [t["mesos_id"] for t in store.list_tasks(state="STAGING", family="fam").items] == [mesos_id]
    assert store.state_counts() == {**dict.fromkeys(State, 0), "STAGING": 1}
    assert store.count_tasks(["STAGING", "RUNNING"], ["fam", "other", "fam"]) == {"fam": 1, "other": 0}


def test_update_task_that_changes_nothing(store: Store, redis_client) -> None:
    task = _task()
    store.create_tasks([task])
    before = redis_client.get(f"hippo:task:{task['mesos_id']}")
    assert store.update_task(task["mesos_id"], lambda t: None) == task
    assert redis_client.get(f"hippo:task:{task['mesos_id']}") == before


def test_update_task_records_new_attempts(store: Store) -> None:
    task = _task()
    task["task_retries"] = 1
    store.create_tasks([task])
    store.update_task(task["mesos_id"], _launch)
    retried = store.update_task(
        task["mesos_id"], lambda t: states.apply_status(t, TaskStatus(task["mesos_id"], "TASK_FAILED")).task
    )
    second = retried["attempts"][1]["mesos_id"]
    assert store.task_for_attempt(second) == task["mesos_id"]
    assert store.list_tasks(state="PENDING").total == 1


def test_update_task_is_redone_when_the_task_changed_meanwhile(store: Store) -> None:
    task = _task()
    store.create_tasks([task])
    seen = []

    def kill(t: dict[str, Any]) -> dict[str, Any] | None:
        seen.append(t["state"])
        if len(seen) == 1:
            store.update_task(t["mesos_id"], _launch)  # the worker launches it meanwhile
        return states.request_kill(t).task

    final = store.update_task(task["mesos_id"], kill)
    assert seen == ["PENDING", "STAGING"]
    assert final["state"] == "KILLING"
    assert store.state_counts()["KILLING"] == 1
    assert store.state_counts()["STAGING"] == 0
    assert store.state_counts()["KILLED"] == 0


def test_unknown_task(store: Store) -> None:
    with pytest.raises(NotFound):
        store.get_task("nope")
    with pytest.raises(NotFound):
        store.update_task("nope", lambda t: t)
    assert store.task_for_attempt("nope") is None


def test_delete_task_leaves_nothing_behind(store: Store) -> None:
    task = _task("fam")
    store.create_tasks([task])
    stored = store.update_task(task["mesos_id"], _launch)
    store.delete_task(stored["mesos_id"])
    # Only the kill of the deleted, launched task remains, for the worker to send, and what
    # the task did: in the event stream and the counts of the last hours (no history).
    left = sorted(store.redis.keys("*"))
    assert left[1:] == ["hippo:events", "hippo:kills"]
    assert left[0].startswith("hippo:counts:")
    assert store.kill_requests() == {stored["attempts"][-1]["mesos_id"]: "agent-1"}


def test_delete_task_with_a_stale_record_leaves_no_index_entry(store: Store) -> None:
    task = _task("fam")
    store.create_tasks([task])
    stale = store.get_task(task["mesos_id"])
    store.update_task(task["mesos_id"], _launch)  # the worker launches it between read and delete
    store.delete_task(stale["mesos_id"])
    # A dangling STAGING entry would hold one of the family's max_concurrent slots forever.
    assert store.count_tasks(["STAGING"], ["fam"]) == {"fam": 0}


def test_list_tasks_pages(store: Store) -> None:
    tasks = [_task("fam", n) for n in range(10)]
    store.create_tasks(tasks)
    page = store.list_tasks(offset=3, limit=4)
    assert [t["data"] for t in page.items] == ["6", "5", "4", "3"]
    assert (page.total, page.offset, page.limit) == (10, 3, 4)


# -- kills, framework, leadership, wake-ups -----------------------------------------------


def test_kill_requests(store: Store) -> None:
    store.request_kill("a.1", "agent-1")
    store.request_kill("b.1", None)
    assert store.kill_requests() == {"a.1": "agent-1", "b.1": None}
    store.kill_sent("a.1")
    assert store.kill_requests() == {"b.1": None}


def test_framework_id(store: Store) -> None:
    assert store.framework_id() is None
    store.set_framework_id("fw-1")
    assert store.framework_id() == "fw-1"
    store.set_framework_id(None)
    assert store.framework_id() is None


def test_leader_lease(store: Store) -> None:
    assert store.acquire_lease("me", 30)
    assert store.acquire_lease("me", 30)  # renewing
    assert not store.acquire_lease("you", 30)
    store.release_lease("you")  # not the holder: nothing happens
    assert store.leader() == "me"
    store.release_lease("me")
    assert store.leader() is None
    assert store.acquire_lease("you", 30)


def test_an_unrenewed_lease_expires(store: Store) -> None:
    assert store.acquire_lease("me", 0.2)
    deadline = time.monotonic() + 10
    while not store.acquire_lease("you", 30):
        assert time.monotonic() < deadline, "the lease never expired"
        time.sleep(0.05)
    assert store.leader() == "you"


def test_changes_wake_the_worker(store: Store, redis_client) -> None:
    pubsub = redis_client.pubsub()
    pubsub.subscribe(store.wake_channel)
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    store.create_queue(_queue(1))
    store.create_tasks([_task()])
    store.request_kill("a.1", "agent")
    for _ in range(3):
        message = pubsub.get_message(timeout=5)
        assert message is not None and message["type"] == "message"
    pubsub.close()


def test_prefixes_keep_stores_apart(store: Store, redis_url: str) -> None:
    other = Store.from_url(redis_url, prefix="other")
    store.create_queue(_queue(1))
    store.create_tasks([_task()])
    assert other.list_queues().total == 0
    assert other.list_tasks().total == 0
    assert all(key.startswith("hippo:") for key in store.redis.keys("*"))
    other.redis.close()
