"""Test suites every AWS queue type runs: its AWS settings, and what its AWS errors tell the user.

A plugin's tests subclass them and say what their resource (a queue, a bucket) is::

    class TestSqsAwsSettings(AwsSettingsSuite):
        queue_type = SqsQueueType
        required = {"queuename": "jobs"}

    class TestSqsAwsErrors(AwsErrorSuite):
        queue_type = SqsQueueType
        resource_setting = "queuename"
        ...

The error suite runs against ``moto_server``, and against a moto_server of its own that
checks credentials (:func:`hippo_aws.testing.checking_moto_server`), both arranged by
the plugin's own fixtures.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hippo_aws import testing
from hippo_aws.testing.moto_server import MotoServer
from hippo_core.errors import ValidationFailed
from hippo_core.ports import free_port
from hippo_core.queues import QueueService
from hippo_core.queuetype import QueueType, QueueTypeError
from hippo_core.store import Store
from hippo_core.testing.plugin_settings import filled_settings
from hippo_core.validation import complete

# validate() cases beyond the credential pair: (settings, the paths with a problem).
ENDPOINT_CASES = [
    pytest.param({"endpoint_url": "http://127.0.0.1:4566"}, [], id="local endpoint"),
    pytest.param({"endpoint_url": "http://minio:9000"}, [], id="endpoint with a host name"),
    pytest.param({"endpoint_url": "https://aws.example.com/base/"}, [], id="endpoint with a path"),
    pytest.param({"endpoint_url": "http://"}, ["endpoint_url"], id="http endpoint without host"),
    pytest.param({"endpoint_url": "https://"}, ["endpoint_url"], id="https endpoint without host"),
]
# Endpoints validate() refuses: (endpoint_url, what the message says).
UNUSABLE_ENDPOINTS = [
    # Hippo shows endpoint_url unmasked: a password there would be on display.
    pytest.param("http://hippo:s3cret@127.0.0.1:4566", "user name or password", id="userinfo"),
    pytest.param("https://:s3cret@aws.example.com", "user name or password", id="password only"),
    pytest.param("http://hippo@127.0.0.1:4566", "user name or password", id="user only"),
    # Endpoints boto3 cannot use would fail every poll.
    pytest.param("http://127.0.0.1:port", "port must be a number", id="port not a number"),
    pytest.param("http://127.0.0.1:70000", "port must be a number", id="port out of range"),
    pytest.param("http://127.0.0.1:4566 ", "whitespace", id="trailing space"),
    pytest.param("http://minio:9000\n", "whitespace", id="trailing line break"),
]


class AwsSettingsSuite:
    """``validate()`` of the AWS settings. Set ``queue_type`` and ``required`` (valid
    values of the required settings)."""

    queue_type: ClassVar[type[QueueType]]
    required: ClassVar[dict[str, Any]]

    def filled(self, **settings: Any) -> dict[str, Any]:
        return dict(complete(self.queue_type.schema, {**self.required, **settings}))

    @pytest.mark.parametrize(("settings", "expected"), [*testing.CREDENTIAL_PAIR_CASES, *ENDPOINT_CASES])
    def test_validate(self, settings: dict[str, Any], expected: list[str]) -> None:
        problems = self.queue_type.validate(self.filled(**settings))
        assert [path for path, _ in problems] == expected
        for _, message in problems:
            assert "set both, or neither" in message or "URL" in message

    @pytest.mark.parametrize(("endpoint", "says"), UNUSABLE_ENDPOINTS)
    def test_validate_refuses_endpoints_that_show_secrets_or_cannot_work(
        self, endpoint: str, says: str
    ) -> None:
        [(path, message)] = self.queue_type.validate(self.filled(endpoint_url=endpoint))
        assert path == "endpoint_url"
        assert says in message
        assert "s3cret" not in message

    def test_the_schemas_endpoint_pattern_admits_only_endpoints_validate_accepts(self) -> None:
        """The pattern /openapi.json shows is a promise validate() keeps, and it already
        turns away what validate() would."""
        pattern = self.queue_type.schema["properties"]["endpoint_url"]["pattern"]

        @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.from_regex(pattern, fullmatch=True))
        def admitted(endpoint: str) -> None:
            assert self.queue_type.validate(self.filled(endpoint_url=endpoint)) == [], endpoint

        admitted()
        for case in UNUSABLE_ENDPOINTS:
            endpoint = case.values[0]
            # fullmatch: "$" as JSON Schema means it (the end), not before a final line break.
            assert isinstance(endpoint, str) and not re.fullmatch(pattern, endpoint), endpoint

    def test_hippo_refuses_to_store_an_endpoint_with_a_password(
        self, hippo_queues: QueueService, hippo_store: Store
    ) -> None:
        name = self.queue_type.name
        body = {
            "cmd": "true",
            "container": {"docker": {"image": "busybox:1.36"}},
            "queue": {
                "type": name,
                "name": "guarded",
                name: {**self.required, "endpoint_url": "http://hippo:s3cret@127.0.0.1:4566"},
            },
        }
        with pytest.raises(ValidationFailed) as caught:
            hippo_queues.create(body)
        assert [error.path for error in caught.value.errors] == [f"$.queue.{name}.endpoint_url"]
        assert "s3cret" not in str(caught.value)
        assert hippo_store.queue_ids() == []


class AwsErrorSuite:
    """Which AWS failures are transient, which permanent, and what they tell the user.

    Set ``queue_type``, ``resource_setting`` (the setting naming the queue or bucket),
    ``rejected_says`` (what the message shows of an unknown key and of a wrong secret:
    AWS's code, or the HTTP status where the service answers none) and ``guarded_item``;
    ``settings`` adds to every queue's settings. The plugin's tests provide the fixtures
    ``aws_resource`` (an empty queue or bucket on ``moto_server``: its name),
    ``put_item`` (``put_item(name, data)``: one item into it) and ``guarded`` (a server
    of its own that checks credentials, from :func:`hippo_aws.testing.checking_moto_server`:
    ``(server, a valid key pair, a resource holding one item whose data is guarded_item)``).
    """

    queue_type: ClassVar[type[QueueType]]
    resource_setting: ClassVar[str]
    rejected_says: ClassVar[tuple[str, str]]
    guarded_item: ClassVar[str]
    settings: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def build_queue(self, hippo_instances: Callable[..., Any]) -> Callable[..., QueueType]:
        """Instances from settings (defaults filled) naming the resource; closed after the test."""

        def make(resource: str, **settings: Any) -> QueueType:
            given = {**self.settings, self.resource_setting: resource, **settings}
            instance: QueueType = hippo_instances(self.queue_type, filled_settings(self.queue_type, given))
            return instance

        return make

    # -- tests ----------------------------------------------------------------------------

    def test_an_unreachable_endpoint_is_transient_and_names_the_resource(
        self, build_queue: Callable[..., QueueType]
    ) -> None:
        queue = build_queue(
            "hippo-jobs", awskey="k", awssecret="s", endpoint_url=f"http://127.0.0.1:{free_port()}"
        )
        with pytest.raises(self.queue_type.transient_error) as raised:
            queue.poll(10, None)
        assert queue.is_transient(raised.value)
        assert "'hippo-jobs'" in str(raised.value) and "did not answer" in str(raised.value)

    def test_a_missing_resource_is_permanent_and_named(
        self, build_queue: Callable[..., QueueType], moto_server: MotoServer
    ) -> None:
        name = f"hippo-missing-{uuid.uuid4().hex[:12]}"
        queue = build_queue(name, awskey="k", awssecret="s", endpoint_url=moto_server.url)
        with pytest.raises(QueueTypeError) as raised:
            queue.poll(10, None)
        assert not queue.is_transient(raised.value)
        message = str(raised.value)
        assert name in message and "does not exist" in message and self.resource_setting in message

    def test_no_credentials_anywhere_is_permanent(
        self,
        build_queue: Callable[..., QueueType],
        moto_server: MotoServer,
        aws_resource: str,
        no_ambient_aws_credentials: None,
    ) -> None:
        queue = build_queue(aws_resource, endpoint_url=moto_server.url)
        with pytest.raises(QueueTypeError) as raised:
            queue.poll(10, None)
        assert not queue.is_transient(raised.value)
        assert "no usable AWS credentials" in str(raised.value)
        assert "awskey" in str(raised.value)

    def test_the_standard_credential_chain_is_used_without_a_key(
        self,
        build_queue: Callable[..., QueueType],
        moto_server: MotoServer,
        aws_resource: str,
        put_item: Callable[[str, str], None],
        no_ambient_aws_credentials: None,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-environment")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-environment")
        put_item(aws_resource, "hello")
        queue = build_queue(aws_resource, endpoint_url=moto_server.url)
        assert [item.data for item in queue.poll(10, None).items] == ["hello"]

    @pytest.mark.parametrize("case", [0, 1], ids=["unknown access key", "known key, wrong secret"])
    def test_rejected_credentials_are_permanent_and_actionable(
        self,
        build_queue: Callable[..., QueueType],
        guarded: tuple[MotoServer, tuple[str, str], str],
        case: int,
    ) -> None:
        server, key, name = guarded
        awskey, awssecret = [("AKIANOSUCHKEY0000000", "whatever"), (key[0], "not-the-secret")][case]
        queue = build_queue(name, awskey=awskey, awssecret=awssecret, endpoint_url=server.url)
        with pytest.raises(QueueTypeError) as raised:
            queue.poll(10, None)
        assert not queue.is_transient(raised.value)
        message = str(raised.value)
        assert name in message and self.rejected_says[case] in message and "awskey and awssecret" in message
        assert "not-the-secret" not in message

    def test_valid_credentials_pass_a_checking_server(
        self, build_queue: Callable[..., QueueType], guarded: tuple[MotoServer, tuple[str, str], str]
    ) -> None:
        server, key, name = guarded
        queue = build_queue(name, awskey=key[0], awssecret=key[1], endpoint_url=server.url)
        items = queue.poll(10, None).items
        assert [item.data for item in items] == [self.guarded_item]
        queue.ack(items)
