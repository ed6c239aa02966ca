"""Fixtures for the sqs queue type's tests: a private moto_server and fresh queues on it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from hippo_sqs import SqsQueueType

from hippo_core.testing.moto_server import MotoServer
from hippo_core.validation import check, fill_defaults

REGION = "us-east-1"
TEST_KEY = ("testing", "testing")


def start_moto_server() -> MotoServer:
    """A started MotoServer, or a skip (a failure when HIPPO_TEST_REQUIRE_SERVERS=1)."""
    try:
        return MotoServer().start()
    except FileNotFoundError as exc:
        if os.environ.get("HIPPO_TEST_REQUIRE_SERVERS") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def with_defaults(settings: dict[str, Any]) -> dict[str, Any]:
    """Check against the schema and fill defaults, as Hippo does before building a queue."""
    errors = check(SqsQueueType.schema, settings)
    assert not errors, errors
    filled = fill_defaults(SqsQueueType.schema, dict(settings))
    assert not SqsQueueType.validate(filled)
    return filled


def sqs_client_for(url: str, key: tuple[str, str] = TEST_KEY) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
    )


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = start_moto_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqs(moto_server: MotoServer) -> Any:
    """A boto3 SQS client on the test server, for arranging and inspecting queues."""
    return sqs_client_for(moto_server.url)


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
def build() -> Iterator[Callable[..., SqsQueueType]]:
    """Builds SqsQueueType instances from settings, defaults filled; closed after the test."""
    built: list[SqsQueueType] = []

    def make(**settings: Any) -> SqsQueueType:
        filled = with_defaults({"wait_time_seconds": 0, **settings})
        queue = SqsQueueType(filled, queue_id=f"q-{uuid.uuid4().hex[:8]}")
        built.append(queue)
        return queue

    yield make
    for queue in built:
        queue.close()


@pytest.fixture
def make_queue(
    moto_server: MotoServer, queue_name: str, build: Callable[..., SqsQueueType]
) -> Callable[..., SqsQueueType]:
    """Builds SqsQueueType instances on the test queue; ``overrides`` replace settings."""

    def make(**overrides: Any) -> SqsQueueType:
        settings = {
            "queuename": queue_name,
            "awskey": TEST_KEY[0],
            "awssecret": TEST_KEY[1],
            "endpoint_url": moto_server.url,
        }
        return build(**{**settings, **overrides})

    return make


@pytest.fixture(scope="module")
def guarded() -> Iterator[tuple[MotoServer, tuple[str, str], str]]:
    """A server of its own that checks credentials: (server, a valid key pair, a queue).

    The queue holds one message, "guarded".
    """
    server = start_moto_server()
    try:
        key = server.create_admin_credentials("hippo-poller")
        client = sqs_client_for(server.url, key)
        name = f"hippo-guarded-{uuid.uuid4().hex[:12]}"
        url = client.create_queue(QueueName=name)["QueueUrl"]
        client.send_message(QueueUrl=url, MessageBody="guarded")
        client.close()
        server.enforce_auth()
        yield server, key, name
    finally:
        server.stop()


@pytest.fixture
def send(sqs: Any, queue_url: str) -> Callable[[list[str]], None]:
    """Sends these bodies to the test queue."""

    def send_bodies(bodies: list[str]) -> None:
        for start in range(0, len(bodies), 10):
            entries = [
                {"Id": str(i), "MessageBody": body}
                for i, body in enumerate(bodies[start : start + 10])
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
