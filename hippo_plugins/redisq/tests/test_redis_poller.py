"""The poller driving ``redis`` queues against a real redis-server.

Queues are created through QueueService (settings validated, defaults filled) with the
installed queue types, and polled by Hippo's Poller into a Store on the same server
(database 0; the work lists live in database 5).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import falcon.testing
import pytest
import redis

from hippo_core.api import create_app
from hippo_core.config import Config
from hippo_core.launch import task_environment
from hippo_core.queues import QueueService
from hippo_core.testing.polling import data_of, poll_now, state_of, stored_queue, tasks_of
from hippo_core.testing.ports import free_port
from hippo_redis import processing_list_name

DEFINITION = {
    "cmd": 'make-thumbnail "$HIPPO_DATA"',
    "container": {"docker": {"image": "busybox:1.36", "network": "HOST"}},
    "env": {"SIZE": "128"},
    "cpus": 0.25,
    "mem": 64,
}
PASSWORD = "pw-redis-4e1f9a"


@pytest.fixture
def create(hippo_queues: QueueService, settings: dict[str, Any]) -> Callable[..., str]:
    """``create(redis={...overrides}, **queue_block)``: a redis queue on the test list; its id."""

    def make(redis: dict[str, Any] | None = None, **block: Any) -> str:
        body = {
            **DEFINITION,
            "queue": {"type": "redis", "name": "thumbnails", "redis": {**settings, **(redis or {})}, **block},
        }
        return hippo_queues.create(body)["id"]

    return make


def test_items_become_tasks_of_the_queue(hippo_pollers, hippo_store, create, producer, list_name):
    queue_id = create()
    producer.lpush(list_name, "img/1.png", "img/2.png", "bilder/ü.png")

    poll_now(hippo_pollers(), hippo_store, queue_id)

    tasks = tasks_of(hippo_store, queue_id)
    assert sorted(task_environment(t)["HIPPO_DATA"] for t in tasks) == [
        "bilder/ü.png",
        "img/1.png",
        "img/2.png",
    ]
    for task in tasks:
        assert (task["id"], task["queue_id"], task["state"]) == (queue_id, queue_id, "PENDING")
        assert task["cmd"] == DEFINITION["cmd"]
        assert task["container"]["docker"]["image"] == "busybox:1.36"
        assert task["container"]["docker"]["network"] == "HOST"
        assert task_environment(task)["SIZE"] == "128"
        assert (task["cpus"], task["mem"]) == (0.25, 64)
    assert producer.llen(list_name) == 0
    assert producer.exists(processing_list_name(list_name, queue_id)) == 0
    assert state_of(hippo_store, queue_id)["cursor"] is None


def test_seven_items_in_batches_of_three_make_three_tasks(
    hippo_pollers, hippo_store, create, producer, list_name
):
    queue_id = create(batch_size=3, batch_separator=",")
    producer.lpush(list_name, *[f"j{n}" for n in range(1, 8)])

    poll_now(hippo_pollers(), hippo_store, queue_id)

    # Oldest first: producers LPUSH, Hippo pops from the tail.
    assert data_of(hippo_store, queue_id) == ["j1,j2,j3", "j4,j5,j6", "j7"]
    assert producer.llen(list_name) == 0


def test_a_crash_before_the_ack_runs_only_the_items_in_flight_again(
    hippo_pollers, hippo_store, create, producer, list_name
):
    queue_id = create()
    producer.lpush(list_name, "a", "b", "c", "d")
    crashed = hippo_pollers()
    in_flight = {t["data"] for t in crashed.take(*stored_queue(hippo_store, queue_id)).tasks}
    del crashed  # the worker died after storing the tasks, before acknowledging them
    processing = processing_list_name(list_name, queue_id)
    assert producer.llen(processing) == 4
    producer.lpush(list_name, "e", "f")

    poll_now(hippo_pollers(), hippo_store, queue_id)

    counts = Counter(data_of(hippo_store, queue_id))
    assert set(counts) == {"a", "b", "c", "d", "e", "f"}, "an item was lost"
    assert {item for item, n in counts.items() if n > 1} <= in_flight
    assert all(n <= 2 for n in counts.values())
    assert in_flight == {"a", "b", "c", "d"}
    assert producer.llen(list_name) == 0
    assert producer.llen(processing) == 0


def test_a_disabled_queue_leaves_its_list_alone_until_enabled(
    hippo_pollers, hippo_store, hippo_queues, create, producer, list_name
):
    queue_id = create(status="DISABLED", frequency_seconds=0)
    producer.lpush(list_name, "a", "b")
    poller = hippo_pollers()

    assert poller.due_queues() == []
    assert producer.llen(list_name) == 2

    hippo_queues.toggle(queue_id)
    [(queue, state)] = poller.due_queues()
    poller.poll(queue, state)
    assert data_of(hippo_store, queue_id) == ["a", "b"]
    assert producer.llen(list_name) == 0


def test_backpressure_takes_five_of_ten_thousand(hippo_pollers, hippo_store, create, producer, list_name):
    queue_id = create(max_concurrent=5)
    producer.lpush(list_name, *[f"item-{n:05d}" for n in range(10_000)])
    poller = hippo_pollers()

    poll_now(poller, hippo_store, queue_id)
    poll_now(poller, hippo_store, queue_id)  # the five slots are still taken: nothing more

    assert data_of(hippo_store, queue_id) == [f"item-{n:05d}" for n in range(5)]
    assert producer.llen(list_name) == 9_995
    assert producer.llen(processing_list_name(list_name, queue_id)) == 0


def unreachable(producer: redis.Redis, list_name: str) -> dict[str, Any]:
    return {"port": free_port()}


def key_of_another_type(producer: redis.Redis, list_name: str) -> dict[str, Any]:
    producer.set(list_name, "not a list")
    return {}


def missing_database(producer: redis.Redis, list_name: str) -> dict[str, Any]:
    return {"db": 9999}


def unknown_user(producer: redis.Redis, list_name: str) -> dict[str, Any]:
    return {"username": "nobody-here", "password": PASSWORD}


ERROR_CASES = [
    # (what it proves, arrange -> settings, expected in last_error, transient?)
    ("nothing listens on the port: transient", unreachable, "ConnectionError", True),
    ("the key holds no list: for the user to fix", key_of_another_type, "WRONGTYPE", False),
    ("a database the server does not have", missing_database, "DB index is out of range", False),
    ("credentials the server refuses", unknown_user, "refused the credentials", False),
]


@pytest.mark.parametrize(
    ("arrange", "expected", "transient"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_a_source_error_marks_the_queue_and_backs_off(
    hippo_pollers, hippo_store, create, producer, list_name, arrange, expected, transient
):
    queue_id = create(redis=arrange(producer, list_name), frequency_seconds=60)

    poll_now(hippo_pollers(), hippo_store, queue_id)  # does not raise

    state = state_of(hippo_store, queue_id)
    assert state["last_error"].startswith("poll failed: ")
    assert expected in state["last_error"]
    assert PASSWORD not in state["last_error"]
    wait = state["next_run_tstamp"] - state["last_run_tstamp"]
    assert wait == (1 if transient else 60)
    assert state["consecutive_errors"] == 1
    assert tasks_of(hippo_store, queue_id) == []


README_BODY = {
    "cmd": "echo $HIPPO_DATA",
    "container": {"docker": {"image": "busybox:1.36"}},
    "queue": {
        "type": "redis",
        "name": "thumbnails",
        "batch_size": 10,
        "redis": {
            "host": "redis.internal",
            "port": 6379,
            "db": 2,
            "name": "thumbnail-jobs",
            "password": "s3cret",
        },
    },
}


def test_the_readme_example_creates_a_queue(hippo_store, hippo_queuetypes):
    client = falcon.testing.TestClient(create_app(Config(), hippo_store, hippo_queuetypes))

    resp = client.simulate_post("/queues/", json=README_BODY)

    assert resp.status_code == 201, resp.text
    assert resp.json["queue"]["redis"]["password"] == "********"
