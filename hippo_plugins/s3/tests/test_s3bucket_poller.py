"""The poller driving ``s3bucket`` queues against a real moto_server.

Queues are created through QueueService (settings validated, defaults filled) with the
installed queue types and polled by Hippo's Poller into a Store on the test's Redis.
The cursor is custody here: it is stored with the tasks, so nothing runs twice.
"""

from __future__ import annotations

import http.client
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import falcon.testing
import pytest

from hippo_aws.testing import TEST_KEY
from hippo_core.api import create_app
from hippo_core.config import Config
from hippo_core.errors import ValidationFailed
from hippo_core.launch import task_environment
from hippo_core.queues import QueueService
from hippo_core.testing.polling import data_of, finish, poll_now, state_of, stored_queue, tasks_of
from hippo_core.testing.ports import free_port

DEFINITION = {
    "cmd": 'process-scan "$HIPPO_DATA"',
    "container": {"docker": {"image": "example/scanner:2.1"}},
    "env": {"DPI": "300"},
    "mem": 512,
}
SECRET = "secret-s3-5a0c7e91"
# moto_server stores an object in about 3 ms of its own time, one at a time, and every
# poll lists the whole bucket: 10,000 objects would take this test well past the ~20 s
# it may take on a 2-core machine. Backpressure is proved on this many instead.
DEEP = 4_000


@pytest.fixture
def create(hippo_queues: QueueService, moto_server, bucket: str) -> Callable[..., str]:
    """``create(s3bucket={...overrides}, **queue_block)``: a queue on the test's bucket; its id."""

    def make(s3bucket: dict[str, Any] | None = None, **block: Any) -> str:
        settings = {
            "bucket_name": bucket,
            "awskey": TEST_KEY[0],
            "awssecret": TEST_KEY[1],
            "endpoint_url": moto_server.url,
            **(s3bucket or {}),
        }
        body = {**DEFINITION, "queue": {"type": "s3bucket", "name": "scans", "s3bucket": settings, **block}}
        return hippo_queues.create(body)["id"]

    return make


def put_many(port: int, bucket: str, keys: list[str]) -> None:
    """Put empty objects fast: plain keep-alive PUTs on a few connections.

    boto3 spends longer signing and parsing than moto_server spends storing, and this
    server checks no signatures, so thousands of objects are seeded without boto3.
    """
    local = threading.local()

    def put(key: str) -> None:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local.connection.request("PUT", f"/{bucket}/{key}", body=b"")
        response = local.connection.getresponse()
        response.read()
        assert response.status == 200, (key, response.status)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, keys))


def test_new_objects_become_tasks_of_the_queue(hippo_pollers, hippo_store, create, put, bucket):
    queue_id = create()
    put(bucket, "incoming/a.tiff", "incoming/b.tiff", "folder/", "c d.tiff")

    poll_now(hippo_pollers(), hippo_store, queue_id)

    tasks = tasks_of(hippo_store, queue_id)
    assert sorted(task_environment(t)["HIPPO_DATA"] for t in tasks) == [
        "c d.tiff",
        "incoming/a.tiff",
        "incoming/b.tiff",
    ]
    for task in tasks:
        assert (task["id"], task["queue_id"], task["state"]) == (queue_id, queue_id, "PENDING")
        assert task["cmd"] == DEFINITION["cmd"]
        assert task["container"]["docker"]["image"] == "example/scanner:2.1"
        assert task_environment(task)["DPI"] == "300"
        assert task["mem"] == 512
    assert state_of(hippo_store, queue_id)["cursor"]["last_modified"]


def test_seven_objects_in_batches_of_three_make_three_tasks(hippo_pollers, hippo_store, create, put, bucket):
    queue_id = create(batch_size=3, batch_separator=" ")
    put(bucket, *[f"k{n}" for n in range(1, 8)])

    poll_now(hippo_pollers(), hippo_store, queue_id)

    # Oldest first, then by key: both grow with n here, however the seconds fell.
    assert data_of(hippo_store, queue_id) == ["k1 k2 k3", "k4 k5 k6", "k7"]


def test_a_new_poller_carries_on_from_the_stored_cursor(hippo_pollers, hippo_store, create, put, bucket):
    queue_id = create()
    put(bucket, "a", "b", "c")
    first = hippo_pollers()
    poll_now(first, hippo_store, queue_id)
    first.stop()  # a worker restart: the plugin instance and its client are gone
    put(bucket, "d", "e")  # most likely in the same second as c: the cursor's keys tell them apart

    poll_now(hippo_pollers(), hippo_store, queue_id)

    assert Counter(data_of(hippo_store, queue_id)) == Counter("abcde")


def test_a_crash_before_the_ack_runs_nothing_twice(hippo_pollers, hippo_store, create, put, bucket):
    queue_id = create()
    put(bucket, "a", "b", "c", "d")
    crashed = hippo_pollers()
    crashed.take(*stored_queue(hippo_store, queue_id))  # ... and no ack()
    del crashed
    put(bucket, "e", "f")

    poll_now(hippo_pollers(), hippo_store, queue_id)

    assert Counter(data_of(hippo_store, queue_id)) == Counter("abcdef")


def test_a_disabled_queue_does_not_move_until_enabled(
    hippo_pollers, hippo_store, hippo_queues, create, put, bucket
):
    queue_id = create(status="DISABLED", frequency_seconds=0)
    put(bucket, "a", "b")
    poller = hippo_pollers()

    assert poller.due_queues() == []
    assert state_of(hippo_store, queue_id) == {}

    hippo_queues.toggle(queue_id)
    [(queue, state)] = poller.due_queues()
    poller.poll(queue, state)
    assert data_of(hippo_store, queue_id) == ["a", "b"]


def oldest_first(s3: Any, bucket: str) -> list[str]:
    """The bucket's keys in the order items are handed out: by LastModified, then key."""
    entries = [
        entry
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for entry in page.get("Contents", [])
    ]
    return [e["Key"] for e in sorted(entries, key=lambda e: (e["LastModified"], e["Key"]))]


@pytest.fixture
def deep_bucket(s3: Any, moto_server) -> Iterator[str]:
    """A bucket holding ``DEEP`` empty objects, emptied afterwards in batches of 1,000."""
    name = f"hippo-deep-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    keys = [f"scan-{n:05d}" for n in range(DEEP)]
    put_many(moto_server.port, name, keys)
    yield name
    for start in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]]})
    s3.delete_bucket(Bucket=name)


def test_backpressure_takes_five_of_a_deep_bucket(hippo_pollers, hippo_store, create, s3, deep_bucket):
    queue_id = create(s3bucket={"bucket_name": deep_bucket}, max_concurrent=5)
    order = oldest_first(s3, deep_bucket)
    poller = hippo_pollers()

    poll_now(poller, hippo_store, queue_id)
    poll_now(poller, hippo_store, queue_id)  # the five slots are still taken: nothing more

    assert data_of(hippo_store, queue_id) == sorted(order[:5])
    finish(hippo_store, tasks_of(hippo_store, queue_id))
    poll_now(poller, hippo_store, queue_id)
    assert data_of(hippo_store, queue_id) == sorted(order[:10]), "the rest was not left behind the cursor"


def test_a_missing_bucket_is_a_permanent_error(hippo_pollers, hippo_store, create):
    queue_id = create(s3bucket={"bucket_name": "hippo-no-such-bucket"}, frequency_seconds=60)

    poll_now(hippo_pollers(), hippo_store, queue_id)  # does not raise

    state = state_of(hippo_store, queue_id)
    assert state["last_error"].startswith("poll failed: QueueTypeError: ")
    assert "the bucket does not exist" in state["last_error"]
    assert state["next_run_tstamp"] - state["last_run_tstamp"] == 60


def test_an_unreachable_endpoint_is_a_transient_error(hippo_pollers, hippo_store, create):
    queue_id = create(s3bucket={"endpoint_url": f"http://127.0.0.1:{free_port()}"})

    poll_now(hippo_pollers(), hippo_store, queue_id)

    state = state_of(hippo_store, queue_id)
    assert state["last_error"].startswith("poll failed: S3TransientError: ")
    assert state["next_run_tstamp"] - state["last_run_tstamp"] == 1


def test_rejected_credentials_are_a_permanent_error_without_the_secret(
    hippo_pollers, hippo_store, hippo_queues, guarded
):
    server, key, name = guarded
    body = {
        **DEFINITION,
        "queue": {
            "type": "s3bucket",
            "name": "guarded",
            "s3bucket": {
                "bucket_name": name,
                "awskey": key[0],
                "awssecret": SECRET,
                "endpoint_url": server.url,
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
    "cmd": 'process-scan "$HIPPO_DATA"',
    "container": {"docker": {"image": "example/scanner:2.1"}},
    "queue": {
        "type": "s3bucket",
        "name": "scans",
        "frequency_seconds": 300,
        "s3bucket": {
            "bucket_name": "example-scans",
            "prefix": "incoming/",
            "earliest_unix_tstamp": 1714521600,
            "awsregion": "eu-west-1",
            "awskey": "AKIAIOSFODNN7EXAMPLE",
            "awssecret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        },
    },
}


def test_the_readme_example_creates_a_queue(hippo_store, hippo_queuetypes):
    client = falcon.testing.TestClient(create_app(Config(), hippo_store, hippo_queuetypes))

    resp = client.simulate_post("/queues/", json=README_BODY)

    assert resp.status_code == 201, resp.text
    assert resp.json["queue"]["s3bucket"]["awssecret"] == "********"


YEAR_9999_END = 253402300799  # 9999-12-31T23:59:59Z


def test_the_latest_starting_point_accepted_polls_without_error(
    hippo_pollers, hippo_store, create, put, bucket
):
    put(bucket, "scan-1.tiff")
    queue_id = create(s3bucket={"earliest_unix_tstamp": YEAR_9999_END})

    poll_now(hippo_pollers(), hippo_store, queue_id)

    state = state_of(hippo_store, queue_id)
    assert state["last_error"] is None
    assert tasks_of(hippo_store, queue_id) == [], "nothing is that new"


def test_a_starting_point_no_poll_could_use_is_refused_at_creation(create, hippo_store):
    # Past year 9999, Python has no datetime for it: every poll would fail.
    with pytest.raises(ValidationFailed) as caught:
        create(s3bucket={"earliest_unix_tstamp": YEAR_9999_END + 1})

    assert [e.path for e in caught.value.errors] == ["$.queue.s3bucket.earliest_unix_tstamp"]
    assert hippo_store.queue_ids() == []
