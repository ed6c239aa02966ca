"""The sqs settings: the contract and AWS settings suites, the schema's checks and defaults."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from hippo_aws.testing.suites import AwsSettingsSuite
from hippo_core.testing.suites import QueueTypeSuite
from hippo_core.validation import check, complete
from hippo_sqs import SqsQueueType

SCHEMA = SqsQueueType.schema


class TestSqsContract(QueueTypeSuite):
    queue_type = SqsQueueType
    required: ClassVar[list[str]] = ["queuename"]
    secrets: ClassVar[set[str]] = {"awssecret"}


class TestSqsAwsSettings(AwsSettingsSuite):
    queue_type = SqsQueueType
    required: ClassVar[dict[str, Any]] = {"queuename": "jobs"}


def test_the_secret_is_masked_whole():
    assert SCHEMA["properties"]["awssecret"]["x-hippo-secret"] is True


def test_defaults_fill_every_optional_setting():
    assert complete(SCHEMA, {"queuename": "jobs"}) == {
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
        pytest.param({"queuename": "q", "wait_time_seconds": 21}, {"$.wait_time_seconds"}, id="poll over 20"),
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
        pytest.param({"queuename": "q", "awskey": "", "awssecret": "s"}, {"$.awskey"}, id="empty key"),
        pytest.param({"queuename": "q", "awskey": "AKIA"}, {"$"}, id="key without secret"),
        pytest.param({"queuename": "q", "queue_url": "x"}, {"$.queue_url"}, id="unknown setting"),
    ],
)
def test_schema_checks(settings, bad_paths):
    assert {error.path for error in check(SCHEMA, settings)} == bad_paths


def test_no_source_identity_without_a_cursor():
    settings = complete(SCHEMA, {"queuename": "jobs"})
    assert SqsQueueType.source_identity(settings) is None


def test_no_cursor():
    assert SqsQueueType.initial_cursor(complete(SCHEMA, {"queuename": "jobs"})) is None
