"""The poller driving ``s3bucket`` queues against a real moto_server: the shared suite, and
the bounds of the starting point.

The cursor is custody here: it is stored with the tasks, so nothing runs twice.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest

from hippo_aws.testing import TEST_KEY
from hippo_aws.testing.moto_server import MotoServer
from hippo_core.errors import ValidationFailed
from hippo_core.ports import free_port
from hippo_core.queues import QueueService
from hippo_core.testing.polling import poll_now, state_of, tasks_of
from hippo_core.testing.suites import PollerSuite, QueueSource, SourceFailure
from hippo_s3bucket import S3BucketQueueType

SECRET = "secret-s3-5a0c7e91"


def put_many(port: int, bucket: str, keys: list[str]) -> None:
    """Put empty objects fast: plain keep-alive PUTs on a few connections.

    boto3 spends longer signing and parsing than moto_server spends storing, and this
    server checks no signatures, so thousands of objects are seeded without boto3.
    """
    local = threading.local()

    def put(key: str) -> None:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local.connection.request("PUT", f"/{bucket}/{quote(key)}", body=b"")
        response = local.connection.getresponse()
        response.read()
        assert response.status == 200, (key, response.status)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, keys))


class BucketSource(QueueSource):
    """The test's bucket on moto_server; items are keys, handed out oldest first."""

    queue_type = S3BucketQueueType
    custody = "cursor"
    # moto_server stores an object in about 3 ms of its own time, one at a time, and every
    # poll lists the whole bucket: 10,000 objects would take this test well past what it
    # may take on a 2-core machine. Backpressure is proved on this many instead.
    deep = 4_000

    def __init__(self, request: pytest.FixtureRequest, s3: Any, bucket: str, server: MotoServer) -> None:
        self.request = request
        self.s3 = s3
        self.bucket = bucket
        self.server = server
        self.added = 0

    def settings(self) -> dict[str, Any]:
        return {
            "bucket_name": self.bucket,
            "awskey": TEST_KEY[0],
            "awssecret": TEST_KEY[1],
            "endpoint_url": self.server.url,
        }

    def add(self, count: int) -> list[str]:
        # A space in a key, and folders ("in/") that are no items.
        keys = [f"in/scan {n:05d}.tiff" for n in range(self.added, self.added + count)]
        if count > 20:
            put_many(self.server.port, self.bucket, keys)
        else:
            for key in ["in/", *keys]:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=b"")
        self.added += count
        # Handed out by LastModified, then by key: puts on several connections can land
        # in a later second than a key that sorts after them.
        new = set(keys)
        return [key for key in self.oldest_first() if key in new]

    def oldest_first(self) -> list[str]:
        entries = [
            entry
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
            for entry in page.get("Contents", [])
        ]
        return [e["Key"] for e in sorted(entries, key=lambda e: (e["LastModified"], e["Key"]))]

    def missing_bucket(self) -> dict[str, Any]:
        return {"bucket_name": "hippo-no-such-bucket"}

    def unreachable(self) -> dict[str, Any]:
        return {"endpoint_url": f"http://127.0.0.1:{free_port()}"}

    def rejected_credentials(self) -> dict[str, Any]:
        server, key, name = self.request.getfixturevalue("guarded")
        return {"bucket_name": name, "awskey": key[0], "awssecret": SECRET, "endpoint_url": server.url}


class TestS3Poller(PollerSuite):
    batch_separator = ","
    failures = (
        SourceFailure("a missing bucket", BucketSource.missing_bucket, "the bucket does not exist", False),
        SourceFailure("an unreachable endpoint", BucketSource.unreachable, "did not answer", True),
        SourceFailure(
            "rejected credentials", BucketSource.rejected_credentials, "check awskey and awssecret", False
        ),
    )

    @pytest.fixture
    def queue_source(
        self, request: pytest.FixtureRequest, s3: Any, bucket: str, moto_server: MotoServer
    ) -> BucketSource:
        return BucketSource(request, s3, bucket, moto_server)


@pytest.fixture
def create(hippo_queues: QueueService, moto_server: MotoServer, bucket: str) -> Callable[..., str]:
    """``create(s3bucket={...overrides})``: a queue on the test's bucket; its id."""

    def make(s3bucket: dict[str, Any] | None = None) -> str:
        settings = {
            "bucket_name": bucket,
            "awskey": TEST_KEY[0],
            "awssecret": TEST_KEY[1],
            "endpoint_url": moto_server.url,
            **(s3bucket or {}),
        }
        body = {
            "cmd": 'process-scan "$HIPPO_DATA"',
            "container": {"docker": {"image": "example/scanner:2.1"}},
            "queue": {"type": "s3bucket", "name": "scans", "s3bucket": settings},
        }
        return hippo_queues.create(body)["id"]

    return make


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
