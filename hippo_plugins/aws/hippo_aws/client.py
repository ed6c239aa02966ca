"""A boto3 client from a queue's AWS settings."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from hippo_core.queuetype import QueueTypeError


def make_client(service: str, settings: dict[str, Any], where: str, **config: Any) -> Any:
    """A boto3 client for ``service`` from a queue's AWS settings.

    ``awskey``/``awssecret`` when given (else the standard credential chain),
    ``awsregion``, ``endpoint_url``; one quick retry inside boto3, since Hippo's poller
    backs off on transient errors itself. ``config`` adds to the botocore ``Config``;
    ``where`` names the source in the error raised when no client can be made.
    """
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
