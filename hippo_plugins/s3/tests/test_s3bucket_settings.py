"""The s3bucket settings: registration, the schema's shape, checks, defaults, validate()."""

from __future__ import annotations

import pytest
from hippo_s3bucket import Position, S3BucketQueueType

from hippo_core.registry import QueueTypeRegistry
from hippo_core.testing.aws import CREDENTIAL_PAIR_CASES
from hippo_core.testing.plugin_settings import assert_schema_conventions
from hippo_core.validation import check, fill_defaults

SCHEMA = S3BucketQueueType.schema


def test_registered_under_s3bucket_in_the_entry_point_group():
    assert QueueTypeRegistry().get("s3bucket") is S3BucketQueueType


def test_schema_follows_the_plugin_conventions():
    assert_schema_conventions(SCHEMA, required=["bucket_name"], secrets={"awssecret"})
    assert SCHEMA["properties"]["awssecret"]["x-hippo-secret"] is True


def test_defaults_fill_every_optional_setting():
    assert fill_defaults(SCHEMA, {"bucket_name": "scans"}) == {
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
        pytest.param(
            {"bucket_name": "scans", "earliest_unix_tstamp": 1714521600.5}, set(), id="fractional"
        ),
        pytest.param(
            {"bucket_name": "scans", "earliest_unix_tstamp": -1},
            {"$.earliest_unix_tstamp"},
            id="before 1970",
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
        pytest.param(
            {"bucket_name": "scans", "settle_seconds": -5}, {"$.settle_seconds"}, id="negative"
        ),
        pytest.param({"bucket_name": "scans", "prefix": 7}, {"$.prefix"}, id="prefix not text"),
        pytest.param(
            {"bucket_name": "scans", "endpoint_url": "minio:9000"},
            {"$.endpoint_url"},
            id="endpoint without scheme",
        ),
        pytest.param(
            {"bucket_name": "scans", "awsregion": "eu_west_1"}, {"$.awsregion"}, id="bad region"
        ),
        pytest.param({"bucket_name": "scans", "awssecret": ""}, {"$.awssecret"}, id="empty"),
        pytest.param({"bucket_name": "scans", "bucket": "x"}, {"$.bucket"}, id="unknown setting"),
    ],
)
def test_schema_checks(settings, bad_paths):
    assert {error.path for error in check(SCHEMA, settings)} == bad_paths


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        *CREDENTIAL_PAIR_CASES,
        pytest.param({"endpoint_url": "http://minio:9000"}, [], id="endpoint with host"),
        pytest.param({"endpoint_url": "https://"}, ["endpoint_url"], id="endpoint without host"),
    ],
)
def test_validate(settings, expected):
    filled = fill_defaults(SCHEMA, {"bucket_name": "scans", **settings})
    problems = S3BucketQueueType.validate(filled)
    assert [path for path, _ in problems] == expected
    for _, message in problems:
        assert "set both, or neither" in message or "URL" in message


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
    settings = fill_defaults(SCHEMA, {"bucket_name": "scans", "earliest_unix_tstamp": earliest})
    assert S3BucketQueueType.initial_cursor(settings) == cursor
    # Hippo compares initial cursors to notice a moved starting point: stable per setting.
    assert S3BucketQueueType.initial_cursor(settings) == S3BucketQueueType.initial_cursor(
        dict(settings)
    )


def test_cursor_round_trips_through_json_form():
    position = Position.from_cursor(
        {"last_modified": "2024-05-01T12:00:07.000000Z", "keys": ["b", "a"]}
    )
    assert position.to_cursor() == {
        "last_modified": "2024-05-01T12:00:07.000000Z",
        "keys": ["a", "b"],
    }
