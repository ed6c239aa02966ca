"""Fixtures for the sqs queue type's tests: fresh queues on the session's moto_server.

``moto_server`` comes from ``hippo_core.testing.pytest_plugin``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hippo_aws import testing as aws
from hippo_aws.testing.moto_server import MotoServer
from hippo_core.testing.plugin_settings import filled_settings
from hippo_sqs import SqsQueueType


@pytest.fixture(scope="session")
def sqs(moto_server: MotoServer) -> Any:
    """A boto3 SQS client on the test server, for arranging and inspecting queues."""
    return aws.client("sqs", moto_server.url)


@pytest.fixture
def queue_name(sqs: Any) -> Iterator[str]:
    """A new, empty queue with a name no other test uses."""
    name = f"hippo-test-{uuid.uuid4().hex[:16]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    yield name
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def queue_url(sqs: Any, queue_name: str) -> str:
    return sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]


@pytest.fixture
def build(hippo_instances: Callable[..., Any]) -> Callable[..., SqsQueueType]:
    """Builds SqsQueueType instances from settings, defaults filled; closed after the test."""

    def make(**settings: Any) -> SqsQueueType:
        filled = filled_settings(SqsQueueType, {"wait_time_seconds": 0, **settings})
        return hippo_instances(SqsQueueType, filled)

    return make


@pytest.fixture
def make_queue(
    moto_server: MotoServer, queue_name: str, build: Callable[..., SqsQueueType]
) -> Callable[..., SqsQueueType]:
    """Builds SqsQueueType instances on the test queue; ``overrides`` replace settings."""

    def make(**overrides: Any) -> SqsQueueType:
        settings = {
            "queuename": queue_name,
            "awskey": aws.TEST_KEY[0],
            "awssecret": aws.TEST_KEY[1],
            "endpoint_url": moto_server.url,
        }
        return build(**{**settings, **overrides})

    return make


@pytest.fixture(scope="module")
def guarded() -> Iterator[tuple[MotoServer, tuple[str, str], str]]:
    """A server of its own that checks credentials: (server, a valid key pair, a queue).

    The queue holds one message, "guarded".
    """

    def arrange(sqs: Any) -> str:
        name = f"hippo-guarded-{uuid.uuid4().hex[:12]}"
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="guarded")
        return name

    with aws.checking_moto_server("sqs", arrange) as guarded:
        yield guarded


@pytest.fixture
def send(sqs: Any, queue_url: str) -> Callable[[list[str]], None]:
    """Sends these bodies to the test queue."""

    def send_bodies(bodies: list[str]) -> None:
        for start in range(0, len(bodies), 10):
            entries = [
                {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])
            ]
            answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            assert not answer.get("Failed"), answer["Failed"]

    return send_bodies


@pytest.fixture
def counts(sqs: Any, queue_url: str) -> Callable[[], tuple[int, int]]:
    """Reads (visible, in flight) message counts of the test queue."""

    def message_counts() -> tuple[int, int]:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    return message_counts
