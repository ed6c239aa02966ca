"""The sqs settings: registration, the schema's shape, its checks and defaults, validate()."""

from __future__ import annotations

import pytest

from hippo_aws.testing import CREDENTIAL_PAIR_CASES
from hippo_core.errors import ValidationFailed
from hippo_core.registry import QueueTypeRegistry
from hippo_core.testing.plugin_settings import assert_schema_conventions
from hippo_core.validation import check, complete
from hippo_sqs import SqsQueueType

SCHEMA = SqsQueueType.schema


def test_registered_under_sqs_in_the_entry_point_group():
    assert QueueTypeRegistry().get("sqs") is SqsQueueType


def test_schema_follows_the_plugin_conventions():
    assert_schema_conventions(SCHEMA, required=["queuename"], secrets={"awssecret"})
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
        pytest.param({"endpoint_url": "https://sqs.example.com/"}, [], id="endpoint with a path"),
        pytest.param({"endpoint_url": "http://"}, ["endpoint_url"], id="endpoint without host"),
    ],
)
def test_validate(settings, expected):
    filled = complete(SCHEMA, {"queuename": "jobs", **settings})
    problems = SqsQueueType.validate(filled)
    assert [path for path, _ in problems] == expected
    for _, message in problems:
        assert "set both, or neither" in message or "URL" in message


@pytest.mark.parametrize(
    ("endpoint", "says"),
    [
        # Hippo shows endpoint_url unmasked: a password there would be on display
        pytest.param("http://hippo:s3cret@127.0.0.1:4566", "user name or password", id="userinfo"),
        pytest.param("https://:s3cret@sqs.example.com", "user name or password", id="password only"),
        pytest.param("http://hippo@127.0.0.1:4566", "user name or password", id="user only"),
        # endpoints boto3 cannot use would fail every poll
        pytest.param("http://127.0.0.1:port", "port must be a number", id="port not a number"),
        pytest.param("http://127.0.0.1:70000", "port must be a number", id="port out of range"),
        pytest.param("http://127.0.0.1:4566 ", "whitespace", id="trailing space"),
    ],
)
def test_validate_refuses_endpoints_that_show_secrets_or_cannot_work(endpoint, says):
    filled = complete(SCHEMA, {"queuename": "jobs", "endpoint_url": endpoint})
    [(path, message)] = SqsQueueType.validate(filled)
    assert path == "endpoint_url"
    assert says in message
    assert "s3cret" not in message


def test_hippo_refuses_to_store_an_endpoint_with_a_password(hippo_queues, hippo_store):
    body = {
        "cmd": "true",
        "container": {"docker": {"image": "busybox:1.36"}},
        "queue": {
            "type": "sqs",
            "name": "jobs",
            "sqs": {"queuename": "jobs", "endpoint_url": "http://hippo:s3cret@127.0.0.1:4566"},
        },
    }
    with pytest.raises(ValidationFailed) as caught:
        hippo_queues.create(body)
    assert [error.path for error in caught.value.errors] == ["$.queue.sqs.endpoint_url"]
    assert "s3cret" not in str(caught.value)
    assert hippo_store.queue_ids() == []


def test_no_source_identity_without_a_cursor():
    settings = complete(SCHEMA, {"queuename": "jobs"})
    assert SqsQueueType.source_identity(settings) is None


def test_no_cursor():
    assert SqsQueueType.initial_cursor(complete(SCHEMA, {"queuename": "jobs"})) is None
