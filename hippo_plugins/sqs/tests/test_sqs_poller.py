"""The poller driving ``sqs`` queues against a real moto_server.

Queues are created through QueueService (settings validated, defaults filled) with the
installed queue types and polled by Hippo's Poller into a Store on the test's Redis.
Custody is SQS visibility: a message is deleted only after its task is stored, so a
crash in between runs it again once its visibility timeout has passed.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import falcon.testing
import pytest

from hippo_aws.testing import TEST_KEY
from hippo_core.api import create_app
from hippo_core.config import Config
from hippo_core.launch import task_environment
from hippo_core.queues import QueueService
from hippo_core.testing.polling import data_of, poll_now, state_of, stored_queue, tasks_of
from hippo_core.testing.ports import free_port

DEFINITION = {
    "cmd": 'make-thumbnail "$HIPPO_DATA"',
    "container": {"docker": {"image": "example/thumbnailer:1.0"}},
    "env": {"SIZE": "256"},
    "cpus": 1,
}
SECRET = "secret-sqs-0b9e4d2a"
# moto_server spends time proportional to the queue's depth on every message sent, so
# seeding grows with the square of it: 10,000 messages take far longer than the ~20 s
# this test may take on a 2-core machine. Backpressure is proved on this many instead.
DEEP = 1_000


@pytest.fixture
def create(hippo_queues: QueueService, moto_server, queue_name: str) -> Callable[..., str]:
    """``create(sqs={...overrides}, **queue_block)``: a queue on the test's SQS queue; its id."""

    def make(sqs: dict[str, Any] | None = None, **block: Any) -> str:
        settings = {
            "queuename": queue_name,
            "awskey": TEST_KEY[0],
            "awssecret": TEST_KEY[1],
            "endpoint_url": moto_server.url,
            "wait_time_seconds": 0,
            **(sqs or {}),
        }
        body = {**DEFINITION, "queue": {"type": "sqs", "name": "thumbnails", "sqs": settings, **block}}
        return hippo_queues.create(body)["id"]

    return make


def test_messages_become_tasks_of_the_queue(hippo_pollers, hippo_store, create, send, counts):
    queue_id = create()
    send(["scan-1.tiff", "scan-2.tiff", '{"json": true}'])

    poll_now(hippo_pollers(), hippo_store, queue_id)

    tasks = tasks_of(hippo_store, queue_id)
    assert sorted(task_environment(t)["HIPPO_DATA"] for t in tasks) == [
        "scan-1.tiff",
        "scan-2.tiff",
        '{"json": true}',
    ]
    for task in tasks:
        assert (task["id"], task["queue_id"], task["state"]) == (queue_id, queue_id, "PENDING")
        assert task["cmd"] == DEFINITION["cmd"]
        assert task["container"]["docker"]["image"] == "example/thumbnailer:1.0"
        assert task_environment(task)["SIZE"] == "256"
        assert task["cpus"] == 1
    assert counts() == (0, 0), "acknowledged messages are deleted"


def test_seven_messages_in_batches_of_three_make_three_tasks(
    hippo_pollers, hippo_store, create, send, counts
):
    queue_id = create(batch_size=3, batch_separator=";")
    bodies = [f"m{n}" for n in range(1, 8)]
    send(bodies)

    poll_now(hippo_pollers(), hippo_store, queue_id)

    batches = [task["data"].split(";") for task in tasks_of(hippo_store, queue_id)]
    assert sorted(len(batch) for batch in batches) == [1, 3, 3]
    assert sorted(body for batch in batches for body in batch) == bodies
    assert counts() == (0, 0)


def test_a_crash_before_the_ack_runs_only_the_items_in_flight_again(
    hippo_pollers, hippo_store, create, send, counts
):
    queue_id = create(sqs={"visibility_timeout": 2})
    send(["a", "b", "c", "d"])
    crashed = hippo_pollers()
    in_flight = {t["data"] for t in crashed.take(*stored_queue(hippo_store, queue_id)).tasks}
    del crashed  # the worker died after storing the tasks, before deleting the messages
    send(["e", "f"])

    poller = hippo_pollers()
    poll_now(poller, hippo_store, queue_id)
    assert data_of(hippo_store, queue_id) == ["a", "b", "c", "d", "e", "f"], "hidden messages came back early"
    deadline = time.monotonic() + 30
    while len(tasks_of(hippo_store, queue_id)) < 10 and time.monotonic() < deadline:
        time.sleep(0.2)  # until the visibility timeout of the messages in flight has passed
        poll_now(poller, hippo_store, queue_id)

    tally = Counter(data_of(hippo_store, queue_id))
    assert set(tally) == {"a", "b", "c", "d", "e", "f"}, "a message was lost"
    assert {body for body, n in tally.items() if n > 1} == in_flight == {"a", "b", "c", "d"}
    assert max(tally.values()) == 2
    assert counts() == (0, 0)


def test_a_disabled_queue_leaves_its_messages_alone_until_enabled(
    hippo_pollers, hippo_store, hippo_queues, create, send, counts
):
    queue_id = create(status="DISABLED", frequency_seconds=0)
    send(["a", "b"])
    poller = hippo_pollers()

    assert poller.due_queues() == []
    assert counts() == (2, 0)

    hippo_queues.toggle(queue_id)
    [(queue, state)] = poller.due_queues()
    poller.poll(queue, state)
    assert data_of(hippo_store, queue_id) == ["a", "b"]
    assert counts() == (0, 0)


def test_backpressure_takes_five_of_a_deep_queue(hippo_pollers, hippo_store, create, send, counts):
    queue_id = create(max_concurrent=5)
    send([f"m{n:05d}" for n in range(DEEP)])
    poller = hippo_pollers()

    poll_now(poller, hippo_store, queue_id)
    poll_now(poller, hippo_store, queue_id)  # the five slots are still taken: nothing more

    assert len(tasks_of(hippo_store, queue_id)) == 5
    assert counts() == (DEEP - 5, 0), "more was received than the free slots can run"


def test_a_missing_queue_is_a_permanent_error(hippo_pollers, hippo_store, create):
    queue_id = create(sqs={"queuename": "hippo-no-such-queue"}, frequency_seconds=60)

    poll_now(hippo_pollers(), hippo_store, queue_id)  # does not raise

    state = state_of(hippo_store, queue_id)
    assert state["last_error"].startswith("poll failed: QueueTypeError: ")
    assert "does not exist" in state["last_error"]
    assert state["next_run_tstamp"] - state["last_run_tstamp"] == 60


def test_an_unreachable_endpoint_is_a_transient_error(hippo_pollers, hippo_store, create):
    queue_id = create(sqs={"endpoint_url": f"http://127.0.0.1:{free_port()}"})

    poll_now(hippo_pollers(), hippo_store, queue_id)

    state = state_of(hippo_store, queue_id)
    assert state["last_error"].startswith("poll failed: SqsTransientError: ")
    assert state["next_run_tstamp"] - state["last_run_tstamp"] == 1


def test_rejected_credentials_are_a_permanent_error_without_the_secret(
    hippo_pollers, hippo_store, hippo_queues, guarded
):
    server, key, name = guarded
    body = {
        **DEFINITION,
        "queue": {
            "type": "sqs",
            "name": "guarded",
            "sqs": {
                "queuename": name,
                "awskey": key[0],
                "awssecret": SECRET,
                "endpoint_url": server.url,
                "wait_time_seconds": 0,
            },
        },
    }
    queue_id = hippo_queues.create(body)["id"]

    poll_now(hippo_pollers(), hippo_store, queue_id)

    state = state_of(hippo_store, queue_id)
    assert "check awskey and awssecret" in state["last_error"]
    assert SECRET not in state["last_error"]
    assert state["next_run_tstamp"] - state["last_run_tstamp"] == 60
    assert tasks_of(hippo_store, queue_id) == []


README_BODY = {
    "cmd": 'make-thumbnail "$HIPPO_DATA"',
    "container": {"docker": {"image": "example/thumbnailer:1.0"}},
    "queue": {
        "type": "sqs",
        "name": "thumbnails",
        "max_concurrent": 50,
        "sqs": {
            "queuename": "thumbnail-requests",
            "awsregion": "eu-west-1",
            "awskey": "AKIAIOSFODNN7EXAMPLE",
            "awssecret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "visibility_timeout": 600,
        },
    },
}


def test_the_readme_example_creates_a_queue(hippo_store, hippo_queuetypes):
    client = falcon.testing.TestClient(create_app(Config(), hippo_store, hippo_queuetypes))

    resp = client.simulate_post("/queues/", json=README_BODY)

    assert resp.status_code == 201, resp.text
    assert resp.json["queue"]["sqs"]["awssecret"] == "********"
