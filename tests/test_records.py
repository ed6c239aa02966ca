"""Stored records carry their format, and a newer Hippo reads what an older one wrote.

The files in ``tests/data/records/`` were written by Hippo before records were versioned
(format 1), through its own store: a one-off task whose first attempt failed and
whose retry waits, and a memory queue with its poller state after one poll.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hippo_core import records
from hippo_core.records import NewerFormat
from hippo_core.testing.memory_queue import MemoryQueueType
from hippo_core.testing.polling import poll_now, tasks_of

DATA = Path(__file__).parent / "data" / "records"


@pytest.fixture
def hippo_queuetypes(registry):
    """The pollers poll the memory queue type, as the API's registry has it."""
    return registry


def stored(name: str) -> dict:
    return json.loads((DATA / name).read_text())


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("task", "task-format-1.json"),
        ("queue", "queue-format-1.json"),
        ("queue_state", "queue-state-format-1.json"),
    ],
)
def test_a_format_1_record_reads_as_the_current_format(kind, name):
    old = stored(name)
    assert records.FORMAT_KEY not in old, "format 1 records carry no format"
    new = records.upgrade(kind, stored(name))
    assert records.FORMAT_KEY not in new, "records leave the store without their format"
    if kind == "task":
        assert [a["attributes"] for a in new["attempts"]] == [{"rack": "r1"}, {}]
        for a in new["attempts"]:
            a.pop("attributes")
        for a in old["attempts"]:
            a.pop("attributes", None)
    assert new == old, "nothing else changes"


def test_the_current_format_reads_unchanged():
    current = records.stamped(records.upgrade("task", stored("task-format-1.json")))
    assert current[records.FORMAT_KEY] == records.FORMAT
    again = records.upgrade("task", dict(current))
    assert again == {k: v for k, v in current.items() if k != records.FORMAT_KEY}


@pytest.mark.parametrize("version", [records.FORMAT + 1, 0, "2"])
def test_a_format_this_hippo_does_not_know_is_refused(version):
    with pytest.raises(NewerFormat, match="format"):
        records.upgrade("task", {**stored("task-format-1.json"), "format": version})


def lay_out_as_format_1(redis_client) -> tuple[dict, dict]:
    """Put the format-1 records in Redis under the keys and indexes Hippo used then."""
    task, queue = stored("task-format-1.json"), stored("queue-format-1.json")
    mesos_id, family, state = task["mesos_id"], task["id"], task["state"]
    redis_client.set(f"hippo:task:{mesos_id}", (DATA / "task-format-1.json").read_text())
    for index in (
        "hippo:tasks",
        f"hippo:tasks:state:{state}",
        f"hippo:tasks:family:{family}",
        f"hippo:tasks:family:{family}:state:{state}",
    ):
        redis_client.zadd(index, {mesos_id: task["created_at"]})
    redis_client.hset("hippo:attempts", mapping={a["mesos_id"]: mesos_id for a in task["attempts"]})
    redis_client.set(f"hippo:queue:{queue['id']}", (DATA / "queue-format-1.json").read_text())
    redis_client.set(f"hippo:queue:{queue['id']}:state", (DATA / "queue-state-format-1.json").read_text())
    redis_client.zadd("hippo:queues", {queue["id"]: queue["created_at"]})
    return task, queue


def test_hippo_works_on_records_an_older_hippo_stored(client, redis_client, store, hippo_pollers, registry):
    task, queue = lay_out_as_format_1(redis_client)

    shown = client.simulate_get("/tasks/nightly/").json
    assert (shown["mesos_id"], shown["state"], len(shown["attempts"])) == (task["mesos_id"], "PENDING", 2)
    assert "format" not in shown
    listed = client.simulate_get("/tasks/", params={"state": "PENDING"}).json
    assert [t["mesos_id"] for t in listed["items"]] == [task["mesos_id"]]

    killed = client.simulate_post("/tasks/nightly/kill/").json
    assert killed["state"] == "KILLED"
    rewritten = json.loads(redis_client.get(f"hippo:task:{task['mesos_id']}"))
    assert rewritten["format"] == records.FORMAT, "a write stores the current format"

    got = client.simulate_get(f"/queues/{queue['id']}/").json
    assert got["queue"]["memory"]["token"] == "********"
    assert got["queue"]["cursor"] == 3
    # The poller carries on from the cursor the older Hippo stored.
    MemoryQueueType.push("convert", "a.png", "b.png", "c.png", "d.png", "e.png")
    poll_now(hippo_pollers(), store, queue["id"])
    assert sorted(t["data"] for t in tasks_of(store, queue["id"])) == ["d.png|e.png"]


def test_a_record_from_a_newer_hippo_is_a_clear_error(client, redis_client, error_of):
    task, _ = lay_out_as_format_1(redis_client)
    redis_client.set(f"hippo:task:{task['mesos_id']}", json.dumps({**task, "format": records.FORMAT + 1}))
    body = error_of(client.simulate_get("/tasks/nightly/"), 500)
    assert "newer Hippo" in body["description"] and "upgrade Hippo" in body["description"]
