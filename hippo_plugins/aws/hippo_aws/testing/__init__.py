"""What the tests of AWS queue types share: moto_server started or skipped, boto3 clients
on it, a server that checks credentials, and an empty standard credential chain.

- :mod:`hippo_aws.testing.pytest_plugin`: the fixtures ``moto_server`` and
  ``no_ambient_aws_credentials``, loaded automatically once ``hippo-aws`` is installed.
- :mod:`hippo_aws.testing.moto_server`: a private ``moto_server`` on a free port.
- :mod:`hippo_aws.testing.suites`: the test suites every AWS queue type runs (its AWS
  settings, and what its AWS errors tell the user), given a small adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest

from hippo_aws.testing.moto_server import MotoServer
from hippo_core.testing.skips import server_unavailable

T = TypeVar("T")

REGION = "us-east-1"
TEST_KEY = ("testing", "testing")  # any key pair passes a moto_server that checks none

# Everything boto3's standard credential chain reads from the environment.
CREDENTIAL_VARIABLES = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
]

# validate() cases of a queue type with ``awskey`` and ``awssecret``: (settings, the paths
# with a problem). Both or neither: a key alone cannot sign, a secret alone names no one.
CREDENTIAL_PAIR_CASES = [
    pytest.param({}, [], id="neither key nor secret: standard credential chain"),
    pytest.param({"awskey": "AKIA1", "awssecret": "s"}, [], id="both key and secret"),
    pytest.param({"awskey": "AKIA1"}, ["awssecret"], id="key without secret"),
    pytest.param({"awssecret": "s"}, ["awskey"], id="secret without key"),
]


def start_moto_server() -> MotoServer:
    """A started MotoServer, or a skip (a failure when HIPPO_TEST_REQUIRE_SERVERS=1)."""
    try:
        return MotoServer().start()
    except FileNotFoundError as exc:
        server_unavailable(str(exc))


def client(service: str, url: str, key: tuple[str, str] = TEST_KEY) -> Any:
    """A boto3 client of ``service`` (``"sqs"``, ``"s3"``) on the moto_server at ``url``."""
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
    )


@contextmanager
def checking_moto_server(
    service: str, arrange: Callable[[Any], T]
) -> Iterator[tuple[MotoServer, tuple[str, str], T]]:
    """A moto_server of its own that checks credentials: ``(server, a valid key pair, made)``.

    ``arrange(client)`` gets a ``service`` client with that key pair and creates what the
    tests need before the checks begin; ``made`` is what it returned. Stopped on exit.
    """
    server = start_moto_server()
    try:
        key = server.create_admin_credentials("hippo-poller")
        arranging = client(service, server.url, key)
        try:
            made = arrange(arranging)
        finally:
            arranging.close()
        server.enforce_auth()
        yield server, key, made
    finally:
        server.stop()


def clear_ambient_credentials(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """Empty the standard credential chain: no variables, no files, no instance metadata.

    ``directory`` holds no credential or config file; the variables are restored after the test.
    """
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(directory / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(directory / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
