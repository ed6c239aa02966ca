"""Which SQS failures are transient, which permanent, and what they tell the user: the
suite every AWS queue type runs, and what only SQS does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hippo_aws.testing.suites import AwsErrorSuite
from hippo_core.queuetype import QueueTypeError
from hippo_sqs import SqsQueueType


class TestSqsAwsErrors(AwsErrorSuite):
    queue_type = SqsQueueType
    resource_setting = "queuename"
    rejected_says = ("HTTP 403", "HTTP 403")  # moto's SQS answers no code
    guarded_item = "guarded"
    settings = {"wait_time_seconds": 0}

    @pytest.fixture
    def aws_resource(self, queue_name: str) -> str:
        return queue_name

    @pytest.fixture
    def put_item(self, sqs: Any) -> Callable[[str, str], None]:
        def send(name: str, data: str) -> None:
            sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"], MessageBody=data)

        return send


def test_queue_deleted_after_start_is_permanent(make_queue, sqs, queue_url, queue_name):
    queue = make_queue()
    assert queue.poll(1, None).items == []  # the queue URL is now known
    sqs.delete_queue(QueueUrl=queue_url)
    with pytest.raises(QueueTypeError, match="does not exist") as raised:
        queue.poll(1, None)
    assert not queue.is_transient(raised.value)
    sqs.create_queue(QueueName=queue_name)  # so the fixture's teardown finds it
