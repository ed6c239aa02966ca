"""The sqs settings: registration, the schema's shape, its checks and defaults, validate()."""

from __future__ import annotations

import pytest
from hippo_sqs import SqsQueueType

from hippo_core.registry import QueueTypeRegistry
from hippo_core.testing.aws import CREDENTIAL_PAIR_CASES
from hippo_core.testing.plugin_settings import assert_schema_conventions
from hippo_core.validation import check, fill_defaults

SCHEMA = SqsQueueType.schema


def test_registered_under_sqs_in_the_entry_point_group():
    assert QueueTypeRegistry().get("sqs") is SqsQueueType


def test_schema_follows_the_plugin_conventions():
    assert_schema_conventions(SCHEMA, required=["queuename"], secrets={"awssecret"})
    assert SCHEMA["properties"]["awssecret"]["x-hippo-secret"] is True


def test_defaults_fill_every_optional_setting():
    assert fill_defaults(SCHEMA, {"queuename": "jobs"}) == {
        "queuename": "jobs",
        "awsregion": "us-east-1",
        "awskey": None,
        "awssecret": None,
        "endpoint_url": None,
        "wait_time_seconds": 1,
        "visibility_timeout": 300,
    }


@pytest.mark.parametrize(
    ("settings", "bad_paths"),
    [
        pytest.param({"queuename": "jobs"}, set(), id="name alone is enough"),
        pytest.param({"queuename": "jobs.fifo"}, set(), id="fifo name"),
        pytest.param({}, {"$.queuename"}, id="queuename is required"),
        pytest.param({"queuename": ""}, {"$.queuename"}, id="empty name"),
        pytest.param({"queuename": "a" * 81}, {"$.queuename"}, id="name over 80 characters"),
        pytest.param({"queuename": "jobs/x"}, {"$.queuename"}, id="slash is not a name character"),
        pytest.param(
            {"queuename": "https://sqs.us-east-1.amazonaws.com/1/jobs"},
            {"$.queuename"},
            id="a URL is not a name",
        ),
        pytest.param({"queuename": "q", "awsregion": "US East"}, {"$.awsregion"}, id="bad region"),
        pytest.param({"queuename": "q", "wait_time_seconds": 20}, set(), id="longest long poll"),
        pytest.param(
            {"queuename": "q", "wait_time_seconds": 21}, {"$.wait_time_seconds"}, id="poll over 20"
        ),
        pytest.param(
            {"queuename": "q", "wait_time_seconds": -1}, {"$.wait_time_seconds"}, id="negative wait"
        ),
        pytest.param(
            {"queuename": "q", "visibility_timeout": 0},
            {"$.visibility_timeout"},
            id="zero visibility would hand a message out twice at once",
        ),
        pytest.param(
            {"queuename": "q", "visibility_timeout": 43201},
            {"$.visibility_timeout"},
            id="visibility over SQS's 12 hours",
        ),
        pytest.param(
            {"queuename": "q", "endpoint_url": "localhost:4566"},
            {"$.endpoint_url"},
            id="endpoint without scheme",
        ),
        pytest.param({"queuename": "q", "awskey": ""}, {"$.awskey"}, id="empty key"),
        pytest.param({"queuename": "q", "queue_url": "x"}, {"$.queue_url"}, id="unknown setting"),
    ],
)
def test_schema_checks(settings, bad_paths):
    assert {error.path for error in check(SCHEMA, settings)} == bad_paths


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        *CREDENTIAL_PAIR_CASES,
        pytest.param({"endpoint_url": "http://127.0.0.1:4566"}, [], id="local endpoint"),
        pytest.param({"endpoint_url": "http://"}, ["endpoint_url"], id="endpoint without host"),
    ],
)
def test_validate(settings, expected):
    filled = fill_defaults(SCHEMA, {"queuename": "jobs", **settings})
    problems = SqsQueueType.validate(filled)
    assert [path for path, _ in problems] == expected
    for _, message in problems:
        assert "set both, or neither" in message or "URL" in message


def test_no_cursor():
    assert SqsQueueType.initial_cursor(fill_defaults(SCHEMA, {"queuename": "jobs"})) is None
