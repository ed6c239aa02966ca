"""The redis settings (the contract suite, defaults, checks, validate()) and which failures are transient."""

from __future__ import annotations

import uuid
from typing import ClassVar

import pytest
import redis

from hippo_core.errors import ValidationFailed
from hippo_core.ports import free_port
from hippo_core.queuetype import QueueTypeError, TransientError
from hippo_core.testing.suites import QueueTypeSuite
from hippo_core.validation import validate as validate_schema
from hippo_redis import RedisQueueType

DEFAULTS = {"host": "localhost", "port": 6379, "db": 0, "username": "", "password": ""}


class TestRedisContract(QueueTypeSuite):
    queue_type = RedisQueueType
    required: ClassVar[list[str]] = ["name"]
    secrets: ClassVar[set[str]] = {"password"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # only the list name is required; everything else has the seed's defaults
        ({"name": "jobs"}, {**DEFAULTS, "name": "jobs"}),
        # given values win over defaults
        (
            {"name": "jobs", "host": "r1", "port": 6380, "db": 3, "password": "pw"},
            {**DEFAULTS, "name": "jobs", "host": "r1", "port": 6380, "db": 3, "password": "pw"},
        ),
    ],
)
def test_schema_fills_defaults(given, expected):
    assert validate_schema(RedisQueueType.schema, given) == expected


@pytest.mark.parametrize(
    ("given", "path"),
    [
        ({}, "$.name"),  # the list name is required
        ({"name": ""}, "$.name"),  # and cannot be empty
        ({"name": "jobs", "port": 0}, "$.port"),  # ports start at 1
        ({"name": "jobs", "port": 65536}, "$.port"),  # and end at 65535
        ({"name": "jobs", "db": -1}, "$.db"),  # databases are numbered from 0
        ({"name": "jobs", "db": "2"}, "$.db"),  # and are integers, not strings
        ({"name": "jobs", "queue": "jobs"}, "$.queue"),  # unknown fields are refused
        ({"name": "jobs", "username": "app"}, "$"),  # an ACL user needs its password (the schema says so)
        ({"name": "jobs", "username": "app", "password": ""}, "$"),
    ],
)
def test_schema_refuses(given, path):
    with pytest.raises(ValidationFailed) as caught:
        validate_schema(RedisQueueType.schema, given)
    assert path in [error.path for error in caught.value.errors]


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        ({}, []),  # defaults are valid
        ({"password": "pw"}, []),  # a password alone (requirepass) is fine
        ({"username": "app", "password": "pw"}, []),  # an ACL user with its password
        ({"username": "app"}, [("$.password", "an ACL username needs its password")]),
    ],
)
def test_validate(overrides, errors):
    settings = {**DEFAULTS, "name": "jobs", **overrides}
    assert RedisQueueType.validate(settings) == errors


def test_unreachable_server_is_a_transient_error_naming_it(make_queue):
    port = free_port()
    queue = make_queue(port=port)

    with pytest.raises(TransientError, match="ConnectionError") as caught:
        queue.poll(1, None)

    assert queue.is_transient(caught.value)
    assert str(caught.value).startswith(f"redis://127.0.0.1:{port}/5: ")
    assert isinstance(caught.value.__cause__, redis.ConnectionError)


@pytest.fixture
def acl_user(redis_server):
    """A throw-away ACL user with password 'right-password'."""
    admin = redis.Redis(port=redis_server.port)
    username = f"hippo-test-{uuid.uuid4().hex[:8]}"
    admin.acl_setuser(username, enabled=True, passwords=["+right-password"], keys=["~*"], commands=["+@all"])
    try:
        yield username
    finally:
        admin.acl_deluser(username)
        admin.close()


def test_a_known_user_with_the_right_password_polls(make_queue, acl_user, producer, list_name):
    producer.lpush(list_name, "x")
    queue = make_queue(username=acl_user, password="right-password")
    assert [item.data for item in queue.poll(1, None).items] == ["x"]


def test_wrong_password_is_a_permanent_error_without_the_password(make_queue, acl_user):
    queue = make_queue(username=acl_user, password="wrong-password")

    with pytest.raises(QueueTypeError, match="refused the credentials") as caught:
        queue.poll(1, None)

    assert not queue.is_transient(caught.value)
    assert "wrong-password" not in str(caught.value)


@pytest.mark.parametrize(
    ("prepare", "overrides", "reason"),
    [
        # the key exists but is a string, not a list
        (lambda client, key: client.set(key, "not a list"), {}, "WRONGTYPE"),
        # the server has 16 databases (0-15)
        (lambda client, key: None, {"db": 99}, "DB index is out of range"),
    ],
)
def test_source_problems_are_permanent(make_queue, producer, list_name, prepare, overrides, reason):
    prepare(producer, list_name)
    queue = make_queue(**overrides)

    with pytest.raises(QueueTypeError, match=reason) as caught:
        queue.poll(1, None)

    assert not queue.is_transient(caught.value)
