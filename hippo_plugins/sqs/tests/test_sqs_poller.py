"""The poller driving ``sqs`` queues against a real moto_server: the shared suite.

Custody is SQS visibility: a message is deleted only after its task is stored, so a
crash in between runs it again once its visibility timeout has passed.
"""

from __future__ import annotations

from typing import Any

import pytest

from hippo_aws.testing import TEST_KEY
from hippo_aws.testing.moto_server import MotoServer
from hippo_core.ports import free_port
from hippo_core.testing.suites import PollerSuite, QueueSource, SourceFailure
from hippo_sqs import SqsQueueType

SECRET = "secret-sqs-0b9e4d2a"


class SqsSource(QueueSource):
    """The test's SQS queue on moto_server; what is left counts hidden messages too."""

    queue_type = SqsQueueType
    custody = "ack"
    ordered = False  # a standard queue hands messages out in any order
    # moto_server spends time proportional to the queue's depth on every message sent,
    # so seeding grows with the square of it: 10,000 messages take far longer than a
    # test may on a 2-core machine. Backpressure is proved on this many instead.
    deep = 1_000
    redelivery_settings = {"visibility_timeout": 2}

    def __init__(self, request: pytest.FixtureRequest, sqs: Any, queue_name: str, server: MotoServer) -> None:
        self.request = request
        self.sqs = sqs
        self.queue_name = queue_name
        self.queue_url: str = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        self.server = server
        self.added = 0

    def settings(self) -> dict[str, Any]:
        return {
            "queuename": self.queue_name,
            "awskey": TEST_KEY[0],
            "awssecret": TEST_KEY[1],
            "endpoint_url": self.server.url,
            "wait_time_seconds": 0,
        }

    def add(self, count: int) -> list[str]:
        bodies = [f'{{"scan": "scan-{n:05d}.tiff"}}' for n in range(self.added, self.added + count)]
        for start in range(0, count, 10):
            entries = [
                {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])
            ]
            answer = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            assert not answer.get("Failed"), answer["Failed"]
        self.added += count
        return bodies

    def remaining(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def missing_queue(self) -> dict[str, Any]:
        return {"queuename": "hippo-no-such-queue"}

    def unreachable(self) -> dict[str, Any]:
        return {"endpoint_url": f"http://127.0.0.1:{free_port()}"}

    def rejected_credentials(self) -> dict[str, Any]:
        server, key, name = self.request.getfixturevalue("guarded")
        return {"queuename": name, "awskey": key[0], "awssecret": SECRET, "endpoint_url": server.url}


class TestSqsPoller(PollerSuite):
    failures = (
        SourceFailure("a missing queue", SqsSource.missing_queue, "does not exist", False),
        SourceFailure("an unreachable endpoint", SqsSource.unreachable, "did not answer", True),
        SourceFailure(
            "rejected credentials", SqsSource.rejected_credentials, "check awskey and awssecret", False
        ),
    )

    @pytest.fixture
    def queue_source(
        self, request: pytest.FixtureRequest, sqs: Any, queue_name: str, moto_server: MotoServer
    ) -> SqsSource:
        return SqsSource(request, sqs, queue_name, moto_server)
