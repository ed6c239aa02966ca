"""Which SQS failures are transient, which permanent, and what they tell the user."""

from __future__ import annotations

import uuid

import pytest

from hippo_core.ports import free_port
from hippo_core.queuetype import QueueTypeError
from hippo_sqs import SqsTransientError


def test_unreachable_endpoint_is_transient(build):
    queue = build(
        queuename="jobs",
        awskey="k",
        awssecret="s",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
    )
    with pytest.raises(SqsTransientError) as raised:
        queue.poll(10, None)
    assert queue.is_transient(raised.value)
    assert "'jobs'" in str(raised.value) and "did not answer" in str(raised.value)


def test_missing_queue_is_permanent_and_named(build, moto_server):
    name = f"hippo-missing-{uuid.uuid4().hex[:12]}"
    queue = build(queuename=name, awskey="k", awssecret="s", endpoint_url=moto_server.url)
    with pytest.raises(QueueTypeError) as raised:
        queue.poll(10, None)
    assert not queue.is_transient(raised.value)
    message = str(raised.value)
    assert name in message and "does not exist" in message and "queuename" in message


def test_queue_deleted_after_start_is_permanent(make_queue, sqs, queue_url, queue_name):
    queue = make_queue()
    assert queue.poll(1, None).items == []  # the queue URL is now known
    sqs.delete_queue(QueueUrl=queue_url)
    with pytest.raises(QueueTypeError, match="does not exist") as raised:
        queue.poll(1, None)
    assert not queue.is_transient(raised.value)
    sqs.create_queue(QueueName=queue_name)  # so the fixture's teardown finds it


def test_no_credentials_anywhere_is_permanent(build, moto_server, no_ambient_aws_credentials):
    queue = build(queuename="jobs", endpoint_url=moto_server.url)
    with pytest.raises(QueueTypeError) as raised:
        queue.poll(10, None)
    assert not queue.is_transient(raised.value)
    assert "no usable AWS credentials" in str(raised.value)
    assert "awskey" in str(raised.value)


def test_standard_credential_chain_is_used_without_a_key(
    build, moto_server, queue_name, send, no_ambient_aws_credentials, monkeypatch
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-environment")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-environment")
    send(["hello"])
    queue = build(queuename=queue_name, endpoint_url=moto_server.url)
    assert [item.data for item in queue.poll(10, None).items] == ["hello"]


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(("AKIANOSUCHKEY0000000", "whatever"), id="unknown access key"),
        pytest.param(None, id="known key, wrong secret"),
    ],
)
def test_rejected_credentials_are_permanent_and_actionable(build, guarded, credentials):
    server, key, name = guarded
    awskey, awssecret = credentials or (key[0], "not-the-secret")
    queue = build(queuename=name, awskey=awskey, awssecret=awssecret, endpoint_url=server.url)
    with pytest.raises(QueueTypeError) as raised:
        queue.poll(10, None)
    assert not queue.is_transient(raised.value)
    message = str(raised.value)
    assert name in message and "awskey and awssecret" in message


def test_valid_credentials_pass_a_checking_server(build, guarded):
    server, key, name = guarded
    queue = build(queuename=name, awskey=key[0], awssecret=key[1], endpoint_url=server.url)
    items = queue.poll(10, None).items
    assert [item.data for item in items] == ["guarded"]
    queue.ack(items)
