"""What a test does when a server it needs is missing: skip, or fail where servers are required.

A developer without PostgreSQL or ``moto_server`` still runs the rest of the suite; CI
sets ``HIPPO_TEST_REQUIRE_SERVERS=1`` so that a missing server fails instead of quietly
shrinking the run.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_SERVERS_ENV = "HIPPO_TEST_REQUIRE_SERVERS"


def servers_required() -> bool:
    return os.environ.get(REQUIRE_SERVERS_ENV) == "1"


def server_unavailable(reason: str) -> NoReturn:
    """Skip the test with ``reason``; fail it instead when ``HIPPO_TEST_REQUIRE_SERVERS=1``."""
    if servers_required():
        pytest.fail(f"{REQUIRE_SERVERS_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(reason)
