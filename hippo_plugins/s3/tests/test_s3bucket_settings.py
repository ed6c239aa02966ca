"""The s3bucket settings: the contract and AWS settings suites, the schema's checks and defaults,
the cursor's identity and start."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from hippo_aws.testing.suites import AwsSettingsSuite
from hippo_core.testing.suites import QueueTypeSuite
from hippo_core.validation import check, complete
from hippo_s3bucket import Position, S3BucketQueueType

SCHEMA = S3BucketQueueType.schema


class TestS3Contract(QueueTypeSuite):
    queue_type = S3BucketQueueType
    required: ClassVar[list[str]] = ["bucket_name"]
    secrets: ClassVar[set[str]] = {"awssecret"}


class TestS3AwsSettings(AwsSettingsSuite):
    queue_type = S3BucketQueueType
    required: ClassVar[dict[str, Any]] = {"bucket_name": "scans"}


def test_the_secret_is_masked_whole():
    assert SCHEMA["properties"]["awssecret"]["x-hippo-secret"] is True


def test_defaults_fill_every_optional_setting():
    assert complete(SCHEMA, {"bucket_name": "scans"}) == {
        "bucket_name": "scans",
        "prefix": "",
        "earliest_unix_tstamp": None,
        "settle_seconds": 0,
        "awsregion": "us-east-1",
        "awskey": None,
        "awssecret": None,
        "endpoint_url": None,
    }


@pytest.mark.parametrize(
    ("settings", "bad_paths"),
    [
        pytest.param({"bucket_name": "scans"}, set(), id="bucket alone is enough"),
        pytest.param({}, {"$.bucket_name"}, id="bucket_name is required"),
        pytest.param({"bucket_name": "ab"}, {"$.bucket_name"}, id="bucket name under 3"),
        pytest.param({"bucket_name": "scans", "earliest_unix_tstamp": 1714521600.5}, set(), id="fractional"),
        pytest.param(
            {"bucket_name": "scans", "earliest_unix_tstamp": -1},
            {"$.earliest_unix_tstamp"},
            id="before 1970",
        ),
        pytest.param(
            {"bucket_name": "scans", "earliest_unix_tstamp": 253402300799},
            set(),
            id="the last second of year 9999",
        ),
        pytest.param(
            {"bucket_name": "scans", "earliest_unix_tstamp": 253402300800},
            {"$.earliest_unix_tstamp"},
            id="year 10000: no datetime holds it, every poll would fail",
        ),
        pytest.param(
            {"bucket_name": "scans", "earliest_unix_tstamp": 1e300},
            {"$.earliest_unix_tstamp"},
            id="far past year 9999",
        ),
        pytest.param(
            {"bucket_name": "scans", "earliest_unix_tstamp": "2024-05-01"},
            {"$.earliest_unix_tstamp"},
            id="a date string is not a Unix time",
        ),
        pytest.param(
            {"bucket_name": "scans", "settle_seconds": 86401},
            {"$.settle_seconds"},
            id="settle over a day",
        ),
        pytest.param({"bucket_name": "scans", "settle_seconds": -5}, {"$.settle_seconds"}, id="negative"),
        pytest.param({"bucket_name": "scans", "prefix": 7}, {"$.prefix"}, id="prefix not text"),
        pytest.param(
            {"bucket_name": "scans", "endpoint_url": "minio:9000"},
            {"$.endpoint_url"},
            id="endpoint without scheme",
        ),
        pytest.param({"bucket_name": "scans", "awsregion": "eu_west_1"}, {"$.awsregion"}, id="bad region"),
        pytest.param({"bucket_name": "scans", "awskey": "k", "awssecret": ""}, {"$.awssecret"}, id="empty"),
        pytest.param({"bucket_name": "scans", "awssecret": "s"}, {"$"}, id="secret without key"),
        pytest.param({"bucket_name": "scans", "bucket": "x"}, {"$.bucket"}, id="unknown setting"),
    ],
)
def test_schema_checks(settings, bad_paths):
    assert {error.path for error in check(SCHEMA, settings)} == bad_paths


IDENTITY = {"bucket_name": "scans", "prefix": "incoming/", "endpoint_url": "http://minio:9000"}


@pytest.mark.parametrize(
    ("overrides", "same"),
    [
        pytest.param({"awskey": "AKIA2", "awssecret": "n3w"}, True, id="rotated credentials"),
        pytest.param({"awsregion": "eu-west-1"}, True, id="a region does not move a bucket"),
        pytest.param({"settle_seconds": 60}, True, id="settling is no other source"),
        pytest.param(
            {"earliest_unix_tstamp": 1714521600}, True, id="a new start has its own rule (initial_cursor)"
        ),
        pytest.param({"endpoint_url": "HTTP://Minio:9000/"}, True, id="the endpoint written otherwise"),
        pytest.param({"bucket_name": "scans-2"}, False, id="another bucket"),
        pytest.param({"prefix": "incoming/2024/"}, False, id="another prefix"),
        pytest.param({"prefix": ""}, False, id="the whole bucket"),
        pytest.param({"endpoint_url": "http://minio-2:9000"}, False, id="another server"),
        pytest.param({"endpoint_url": None}, False, id="AWS instead of the endpoint"),
    ],
)
def test_source_identity_names_the_objects_a_cursor_points_into(overrides, same):
    before = S3BucketQueueType.source_identity(complete(SCHEMA, dict(IDENTITY)))
    after = S3BucketQueueType.source_identity(complete(SCHEMA, {**IDENTITY, **overrides}))
    assert (before == after) is same, (before, after)


def test_source_identity_is_json_without_credentials():
    settings = complete(
        SCHEMA, {**IDENTITY, "endpoint_url": "http://minio:80/", "awskey": "AKIA1", "awssecret": "s3cret"}
    )
    identity = S3BucketQueueType.source_identity(settings)
    assert identity == {"bucket": "scans", "prefix": "incoming/", "endpoint": "http://minio"}
    assert json.loads(json.dumps(identity)) == identity


@pytest.mark.parametrize(
    ("earliest", "cursor"),
    [
        pytest.param(None, None, id="no starting point: no cursor, everything is new"),
        pytest.param(
            0,
            {"last_modified": "1970-01-01T00:00:00.000001Z", "keys": []},
            id="the epoch itself is excluded",
        ),
        pytest.param(
            1714521600,
            {"last_modified": "2024-05-01T00:00:00.000001Z", "keys": []},
            id="just after the given second",
        ),
        pytest.param(
            1714521600.25,
            {"last_modified": "2024-05-01T00:00:00.250001Z", "keys": []},
            id="fractions are kept",
        ),
    ],
)
def test_initial_cursor_starts_just_after_earliest(earliest, cursor):
    settings = complete(SCHEMA, {"bucket_name": "scans", "earliest_unix_tstamp": earliest})
    assert S3BucketQueueType.initial_cursor(settings) == cursor
    # Hippo compares initial cursors to notice a moved starting point: stable per setting.
    assert S3BucketQueueType.initial_cursor(settings) == S3BucketQueueType.initial_cursor(dict(settings))


def test_cursor_round_trips_through_json_form():
    position = Position.from_cursor({"last_modified": "2024-05-01T12:00:07.000000Z", "keys": ["b", "a"]})
    assert position.to_cursor() == {
        "last_modified": "2024-05-01T12:00:07.000000Z",
        "keys": ["a", "b"],
    }
