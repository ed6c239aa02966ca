"""What AWS errors mean, once for every AWS queue type: each rule of ``hippo_aws.error_rules``.

The errors are botocore's own classes, built as botocore builds them from an answer; the
suites of the queue types meet the same rules against moto_server. Here are the answers
moto_server does not give (throttling, server errors, refused access).
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    SSLError,
)

import hippo_aws
from hippo_core.queuetype import ErrorRule, QueueTypeError, TransientError
from hippo_core.testing.memory_queue import MemoryQueueType

PERMISSIONS = "the credentials need svc:Read"


class ServiceTransient(TransientError):
    pass


class AwsQueueType(MemoryQueueType):
    """A queue type whose table is the AWS rules alone, behind one rule of its own."""

    name: ClassVar[str] = "awstest"
    transient_error: ClassVar[type[TransientError]] = ServiceTransient
    error_rules: ClassVar[tuple[ErrorRule, ...]] = (
        ErrorRule(ClientError, "no such thing", when=hippo_aws.code_in({"NoSuchThing"})),
        *hippo_aws.error_rules("SVC", PERMISSIONS),
    )


def answer(code: str | None, status: int, message: str = "said AWS") -> ClientError:
    error: dict[str, Any] = {"Message": message}
    if code is not None:
        error["Code"] = code
    return ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, "Read")


CASES = [
    # (what it proves, the error, transient?, what the message says after the source's name)
    ("the queue type's own rule comes first", answer("NoSuchThing", 404), False, "no such thing"),
    (
        "TLS is the user's to fix, though botocore calls it a connection error",
        SSLError(endpoint_url="https://x", error="bad cert"),
        False,
        "TLS failed (SSL validation failed for https://x bad cert); check endpoint_url",
    ),
    (
        "an endpoint that does not answer is transient",
        EndpointConnectionError(endpoint_url="http://x"),
        True,
        'the endpoint did not answer (Could not connect to the endpoint URL: "http://x")',
    ),
    (
        "no credentials at all",
        NoCredentialsError(),
        False,
        "no usable AWS credentials (Unable to locate credentials); set awskey and awssecret, "
        "or provide credentials through the standard AWS chain",
    ),
    (
        "rejected credentials, by code",
        answer("InvalidClientTokenId", 403),
        False,
        "AWS rejected the credentials (InvalidClientTokenId); check awskey and awssecret",
    ),
    (
        "refused access, by code",
        answer("AccessDenied", 403),
        False,
        f"access denied (AccessDenied); {PERMISSIONS}",
    ),
    (
        "refused without a code",
        answer(None, 403),
        False,
        f"AWS refused the request (HTTP 403); check awskey and awssecret; {PERMISSIONS}",
    ),
    ("throttled, by code", answer("SlowDown", 503), True, "SVC throttled or failed the request (SlowDown)"),
    ("throttled, by status", answer("Whatever", 429), True, "SVC throttled or failed the request (Whatever)"),
    (
        "a server error",
        answer("InternalError", 500),
        True,
        "SVC throttled or failed the request (InternalError)",
    ),
    (
        "any other answer: AWS's code and words",
        answer("InvalidParameterValue", 400),
        False,
        "InvalidParameterValue: said AWS",
    ),
    (
        "any other botocore failure, in its own words",
        ParamValidationError(report="bad QueueUrl"),
        False,
        "Parameter validation failed:\nbad QueueUrl",
    ),
]


@pytest.mark.parametrize(("error", "transient", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_aws_error_gets_its_verdict_and_message(error: Exception, transient: bool, says: str) -> None:
    queue = AwsQueueType({"list": "jobs", "start": 0, "stop": None, "token": "", "url": ""}, "q-1")

    translated = queue.translate_error(error)

    assert type(translated) is (ServiceTransient if transient else QueueTypeError)
    assert str(translated) == f"memory list 'jobs': {says}"
    assert queue.is_transient(error) is transient


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [(answer("SlowDown", 503), "SlowDown", 503), (answer(None, 403), "", 403)],
)
def test_the_code_and_status_of_an_answer(error: ClientError, code: str, status: int) -> None:
    assert (hippo_aws.error_code(error), hippo_aws.http_status(error)) == (code, status)
