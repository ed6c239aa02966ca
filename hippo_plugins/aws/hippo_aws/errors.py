"""What AWS errors mean to Hippo, once for every AWS queue type: rules for its error table.

A queue type lists its own rules first (a missing queue or bucket, whatever only its
service says) and then :func:`error_rules`::

    error_rules = (
        ErrorRule(ClientError, "the queue does not exist; ...", when=code_in({"QueueDoesNotExist"})),
        *hippo_aws.error_rules("SQS", permissions="the credentials need sqs:ReceiveMessage ..."),
    )

Failures before AWS answered: a TLS failure and missing credentials are for the user to
fix, an endpoint that does not answer is transient. Answers: rejected credentials and
refused access are for the user, throttling and server errors (HTTP 429, 5xx) are
transient, and any other code is passed on with AWS's own message.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from hippo_core.queuetype import ErrorRule

# The codes AWS services answer with, across SQS, S3 and the STS/KMS calls behind them.
CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "IncompleteSignature",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidSecurity",
        "InvalidToken",
        "MissingAuthenticationToken",
        "SignatureDoesNotMatch",
        "TokenRefreshRequired",
        "UnrecognizedClientException",
    }
)
DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AccountProblem",
        "AllAccessDisabled",
        "KMS.AccessDeniedException",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "KMS.ThrottlingException",
        "RequestThrottled",
        "RequestTimeout",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
    }
)


def error_code(error: ClientError) -> str:
    """The code AWS answered with (``AccessDenied``); empty when it gave none."""
    return str(error.response.get("Error", {}).get("Code", ""))


def http_status(error: ClientError) -> int:
    """The HTTP status of AWS's answer; 0 when unknown."""
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def code_in(codes: Collection[str]) -> Callable[[Any], bool]:
    """A rule's ``when``: the ``ClientError``'s code is one of ``codes``."""
    return lambda error: error_code(error) in codes


def _status_in(statuses: Collection[int]) -> Callable[[Any], bool]:
    return lambda error: http_status(error) in statuses


def _throttled_or_failed(error: ClientError) -> bool:
    status = http_status(error)
    return error_code(error) in TRANSIENT_CODES or status == 429 or status >= 500


def _aws_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", error))


def error_rules(service: str, permissions: str) -> tuple[ErrorRule, ...]:
    """The rules every AWS queue type ends its table with.

    ``service`` names the service in messages (``"SQS"``); ``permissions`` says which IAM
    actions the credentials need, for the messages about refused access.
    """
    return (
        # SSLError is a kind of ConnectionError to botocore: it comes first.
        ErrorRule(SSLError, "TLS failed ({error}); check endpoint_url"),
        ErrorRule(
            (BotoConnectionError, HTTPClientError), "the endpoint did not answer ({error})", transient=True
        ),
        ErrorRule(
            (NoCredentialsError, PartialCredentialsError),
            "no usable AWS credentials ({error}); set awskey and awssecret, or provide "
            "credentials through the standard AWS chain",
        ),
        ErrorRule(
            ClientError,
            lambda queue, error: (
                f"AWS rejected the credentials ({error_code(error)}); check awskey and awssecret"
            ),
            when=code_in(CREDENTIAL_CODES),
        ),
        ErrorRule(
            ClientError,
            lambda queue, error: f"access denied ({error_code(error)}); {permissions}",
            when=code_in(DENIED_CODES),
        ),
        ErrorRule(
            ClientError,
            lambda queue, error: (
                f"AWS refused the request (HTTP {http_status(error)}); check awskey and awssecret; "
                f"{permissions}"
            ),
            when=_status_in((401, 403)),
        ),
        ErrorRule(
            ClientError,
            lambda queue, error: f"{service} throttled or failed the request ({error_code(error)})",
            transient=True,
            when=_throttled_or_failed,
        ),
        ErrorRule(ClientError, lambda queue, error: f"{error_code(error)}: {_aws_message(error)}"),
        ErrorRule(BotoCoreError, "{error}"),
    )
