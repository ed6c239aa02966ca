"""pytest fixtures for AWS queue types; loaded automatically once ``hippo-aws`` is installed.

- ``moto_server`` (session): a private ``moto_server`` on a free port (needs
  ``moto[server]``, the ``test`` extra of hippo-aws); a test needing it is skipped when it
  is missing (failed instead when ``HIPPO_TEST_REQUIRE_SERVERS=1``).
- ``no_ambient_aws_credentials`` (function): boto3's standard credential chain emptied
  (no variables, no files, no instance metadata) for the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hippo_aws import testing
from hippo_aws.testing.moto_server import MotoServer

# Before any test imports it: its failing checks then show their values, as in a test module.
pytest.register_assert_rewrite("hippo_aws.testing.suites")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = testing.start_moto_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def no_ambient_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    testing.clear_ambient_credentials(monkeypatch, tmp_path)
