"""Fixtures for the s3bucket queue type's tests: fresh buckets on the session's moto_server.

``moto_server`` comes from ``hippo_core.testing.pytest_plugin``.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from hippo_aws import testing as aws
from hippo_aws.testing.moto_server import MotoServer
from hippo_core.testing.plugin_settings import filled_settings
from hippo_s3bucket import S3BucketQueueType


def new_bucket(s3: Any) -> str:
    name = f"hippo-test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


def drop_bucket(s3: Any, name: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for entry in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=entry["Key"])
    s3.delete_bucket(Bucket=name)


def listing(s3: Any, bucket: str) -> dict[str, datetime]:
    """Every key of the bucket with its LastModified, as S3 lists them."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            out[entry["Key"]] = entry["LastModified"]
    return out


def put_in_one_second(s3: Any, bucket: str, keys: list[str]) -> datetime:
    """Put these (empty) objects so that they share one LastModified second; returns it.

    S3 dates objects to the second; starting right after the clock ticks leaves the
    whole second for the puts. A group that still straddles a tick is put again.
    """
    for _ in range(5):
        now = time.time()
        time.sleep(math.ceil(now) - now + 0.01)  # until the next second has begun
        for key in keys:
            s3.put_object(Bucket=bucket, Key=key, Body=b"")
        stamps = {listing(s3, bucket)[key] for key in keys}
        if len(stamps) == 1:
            return stamps.pop()
    raise AssertionError(f"could not put {len(keys)} objects within one second")


@pytest.fixture(scope="session")
def s3(moto_server: MotoServer) -> Any:
    """A boto3 S3 client on the test server, for arranging and inspecting buckets."""
    return aws.client("s3", moto_server.url)


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    """A new, empty bucket with a name no other test uses."""
    name = new_bucket(s3)
    yield name
    drop_bucket(s3, name)


@pytest.fixture
def build(hippo_instances: Callable[..., Any]) -> Callable[..., S3BucketQueueType]:
    """Builds S3BucketQueueType instances from settings, defaults filled; closed after."""

    def make(page_size: int | None = None, **settings: Any) -> S3BucketQueueType:
        queue = hippo_instances(S3BucketQueueType, filled_settings(S3BucketQueueType, settings))
        if page_size is not None:
            queue.page_size = page_size
        return queue

    return make


@pytest.fixture
def make_queue(
    moto_server: MotoServer, build: Callable[..., S3BucketQueueType]
) -> Callable[..., S3BucketQueueType]:
    """Builds S3BucketQueueType instances on a bucket of the test server."""

    def make(bucket_name: str, **overrides: Any) -> S3BucketQueueType:
        settings = {
            "bucket_name": bucket_name,
            "awskey": aws.TEST_KEY[0],
            "awssecret": aws.TEST_KEY[1],
            "endpoint_url": moto_server.url,
        }
        return build(**{**settings, **overrides})

    return make


@pytest.fixture
def put(s3: Any) -> Callable[..., None]:
    """Puts objects (key -> body, default empty) into a bucket."""

    def put_objects(bucket_name: str, *keys: str, body: bytes = b"") -> None:
        for key in keys:
            s3.put_object(Bucket=bucket_name, Key=key, Body=body)

    return put_objects


@pytest.fixture
def one_second(s3: Any) -> Callable[[str, list[str]], datetime]:
    """Puts objects into a bucket so that they share one LastModified; returns it."""
    return lambda bucket_name, keys: put_in_one_second(s3, bucket_name, keys)


@pytest.fixture(scope="module")
def guarded() -> Iterator[tuple[MotoServer, tuple[str, str], str]]:
    """A server of its own that checks credentials: (server, a valid key pair, a bucket).

    The bucket holds one object, "guarded.txt".
    """

    def arrange(s3: Any) -> str:
        name = new_bucket(s3)
        s3.put_object(Bucket=name, Key="guarded.txt", Body=b"x")
        return name

    with aws.checking_moto_server("s3", arrange) as guarded:
        yield guarded


@pytest.fixture(scope="session")
def history(s3: Any) -> Iterator[tuple[str, list[tuple[datetime, list[str]]]]]:
    """A bucket written in three seconds: (name, [(LastModified, keys put then), ...]).

    Later seconds use keys that sort first, so key order alone would give a wrong
    answer; each second has several objects, so limits can cut through one.
    """
    name = new_bucket(s3)
    groups = [
        ["z-07", "z-02", "z-11", "z-05", "z-01", "z-09"],
        ["m-4", "m-1", "m-3", "m-2", "m-5"],
        ["a-c", "a-a", "a-d", "a-b"],
    ]
    try:
        yield name, [(put_in_one_second(s3, name, keys), keys) for keys in groups]
    finally:
        drop_bucket(s3, name)
