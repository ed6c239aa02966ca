"""What the AWS queue types (``sqs``, ``s3bucket``) share: settings checks and client set-up.

hippo-core itself does not depend on boto3; this module imports it only when a client
is made, so only the plugins that call :func:`make_client` need it installed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from hippo_core.queuetype import QueueTypeError


def endpoint_errors(endpoint: str | None) -> list[tuple[str, str]]:
    """Problems with an ``endpoint_url`` setting, for a queue type's ``validate()``."""
    if endpoint is None:
        return []
    if any(character.isspace() for character in endpoint):
        return [("endpoint_url", "must not contain whitespace")]
    parts = urlsplit(endpoint)
    if parts.username is not None or parts.password is not None:
        # Hippo shows endpoint_url unmasked, and boto3 would not use them anyway.
        return [
            (
                "endpoint_url",
                "must not carry a user name or password (user:password@); "
                "give the credentials as awskey and awssecret",
            )
        ]
    if not parts.hostname:
        return [("endpoint_url", "must be an http(s) URL with a host name")]
    try:
        parts.port  # noqa: B018 -- parsing is the check
    except ValueError:
        return [("endpoint_url", "its port must be a number from 0 to 65535")]
    return []


def credential_pair_errors(settings: dict[str, Any]) -> list[tuple[str, str]]:
    """``awskey`` and ``awssecret`` come together, or neither (the standard credential chain)."""
    has_key = settings.get("awskey") is not None
    has_secret = settings.get("awssecret") is not None
    if has_key and not has_secret:
        return [
            (
                "awssecret",
                "awskey is set but awssecret is not: set both, or neither to "
                "use the standard AWS credential chain",
            )
        ]
    if has_secret and not has_key:
        return [
            (
                "awskey",
                "awssecret is set but awskey is not: set both, or neither to "
                "use the standard AWS credential chain",
            )
        ]
    return []


def make_client(service: str, settings: dict[str, Any], where: str, **config: Any) -> Any:
    """A boto3 client for ``service`` from a queue's AWS settings.

    ``awskey``/``awssecret`` when given (else the standard credential chain),
    ``awsregion``, ``endpoint_url``; one quick retry inside boto3, since Hippo's poller
    backs off on transient errors itself. ``config`` adds to the botocore ``Config``.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    options = {"retries": {"mode": "standard", "max_attempts": 2}, "connect_timeout": 10, **config}
    session = boto3.session.Session(
        aws_access_key_id=settings.get("awskey"),
        aws_secret_access_key=settings.get("awssecret"),
        region_name=settings["awsregion"],
    )
    try:
        return session.client(service, endpoint_url=settings.get("endpoint_url"), config=Config(**options))
    except (BotoCoreError, ValueError) as exc:
        raise QueueTypeError(f"cannot set up a client for {where}: {exc}") from exc


def connection_error(
    exc: BaseException, context: str, transient: type[QueueTypeError]
) -> QueueTypeError | None:
    """The error for a failure before AWS answered (TLS, network, credentials), or ``None``.

    ``None`` means AWS did answer (a ``ClientError``); the queue type reads its code.
    """
    from botocore.exceptions import (
        ClientError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
        SSLError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, SSLError):
        return QueueTypeError(f"{context}: TLS failed ({exc}); check endpoint_url")
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return transient(f"{context}: the endpoint did not answer ({exc})")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return QueueTypeError(
            f"{context}: no usable AWS credentials ({exc}); set awskey and awssecret, or "
            "provide credentials through the standard AWS chain"
        )
    if not isinstance(exc, ClientError):
        return QueueTypeError(f"{context}: {exc}")
    return None
