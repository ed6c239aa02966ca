"""Which S3 failures are transient, which permanent, and what they tell the user."""

from __future__ import annotations

import uuid

import pytest

from hippo_core.ports import free_port
from hippo_core.queuetype import QueueTypeError
from hippo_s3bucket import S3TransientError


def test_unreachable_endpoint_is_transient(build):
    queue = build(
        bucket_name="scans",
        awskey="k",
        awssecret="s",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
    )
    with pytest.raises(S3TransientError) as raised:
        queue.poll(10, None)
    assert queue.is_transient(raised.value)
    assert "'scans'" in str(raised.value) and "did not answer" in str(raised.value)


def test_missing_bucket_is_permanent_and_named(build, moto_server):
    name = f"hippo-missing-{uuid.uuid4().hex[:12]}"
    queue = build(bucket_name=name, awskey="k", awssecret="s", endpoint_url=moto_server.url)
    with pytest.raises(QueueTypeError) as raised:
        queue.poll(10, None)
    assert not queue.is_transient(raised.value)
    message = str(raised.value)
    assert name in message and "does not exist" in message and "bucket_name" in message


def test_no_credentials_anywhere_is_permanent(build, moto_server, bucket, no_ambient_aws_credentials):
    queue = build(bucket_name=bucket, endpoint_url=moto_server.url)
    with pytest.raises(QueueTypeError) as raised:
        queue.poll(10, None)
    assert not queue.is_transient(raised.value)
    assert "no usable AWS credentials" in str(raised.value)
    assert "awskey" in str(raised.value)


def test_standard_credential_chain_is_used_without_a_key(
    build, moto_server, bucket, put, no_ambient_aws_credentials, monkeypatch
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-environment")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-environment")
    put(bucket, "hello.txt")
    queue = build(bucket_name=bucket, endpoint_url=moto_server.url)
    assert [item.data for item in queue.poll(10, None).items] == ["hello.txt"]


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        pytest.param(("AKIANOSUCHKEY0000000", "whatever"), "InvalidAccessKeyId", id="unknown key"),
        pytest.param(None, "SignatureDoesNotMatch", id="known key, wrong secret"),
    ],
)
def test_rejected_credentials_are_permanent_and_actionable(build, guarded, credentials, code):
    server, key, name = guarded
    awskey, awssecret = credentials or (key[0], "not-the-secret")
    queue = build(bucket_name=name, awskey=awskey, awssecret=awssecret, endpoint_url=server.url)
    with pytest.raises(QueueTypeError) as raised:
        queue.poll(10, None)
    assert not queue.is_transient(raised.value)
    message = str(raised.value)
    assert name in message and code in message and "awskey and awssecret" in message


def test_valid_credentials_pass_a_checking_server(build, guarded):
    server, key, name = guarded
    queue = build(bucket_name=name, awskey=key[0], awssecret=key[1], endpoint_url=server.url)
    assert [item.data for item in queue.poll(10, None).items] == ["guarded.txt"]
