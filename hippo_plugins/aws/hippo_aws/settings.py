"""Checks of the AWS settings every AWS queue type has, for its ``validate()``.

``awskey`` and ``awssecret`` come as a pair or not at all, and ``endpoint_url`` is a URL
boto3 can use that shows no secret (Hippo returns it unmasked).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from hippo_core.queuetype import Endpoint

_NEITHER = "set both, or neither to use the standard AWS credential chain"


def endpoint_errors(endpoint: str | None) -> list[tuple[str, str]]:
    """Problems with an ``endpoint_url`` setting."""
    if endpoint is None:
        return []
    if any(character.isspace() for character in endpoint):
        return [("endpoint_url", "must not contain whitespace")]
    try:
        parts = urlsplit(endpoint)
    except ValueError:  # brackets that hold no IPv6 address, a host that NFKC turns into "/" or "@"
        return [("endpoint_url", "must be an http(s) URL with a host name")]
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
        return [("awssecret", f"awskey is set but awssecret is not: {_NEITHER}")]
    if has_secret and not has_key:
        return [("awskey", f"awssecret is set but awskey is not: {_NEITHER}")]
    return []


def settings_errors(settings: dict[str, Any]) -> list[tuple[str, str]]:
    """Every problem with the AWS settings of a queue: the credential pair, then the endpoint."""
    return credential_pair_errors(settings) + endpoint_errors(settings.get("endpoint_url"))


def endpoints(settings: dict[str, Any]) -> list[Endpoint]:
    """Where an AWS queue type's settings point, for the source policy: its ``endpoint_url``.

    AWS itself (no ``endpoint_url``) is left out: no setting decides which host that is.
    """
    endpoint = settings.get("endpoint_url")
    if endpoint is None or endpoint_errors(endpoint):
        return []
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return [Endpoint("endpoint_url", host=parts.hostname, port=port)]
