"""Paths reported by a queue type's validate() land under its settings block."""

from __future__ import annotations

import pytest

from hippo_core.documents import settings_path

# (path a plugin returns, path in the queue document)
PATHS = [
    ("", "$.queue.cron"),
    ("$", "$.queue.cron"),
    ("cronstring", "$.queue.cron.cronstring"),
    ("$.cronstring", "$.queue.cron.cronstring"),
    ("$[0]", "$.queue.cron[0]"),
    ("limits.max", "$.queue.cron.limits.max"),
]


@pytest.mark.parametrize(("reported", "expected"), PATHS)
def test_settings_path(reported: str, expected: str) -> None:
    assert settings_path("cron", reported) == expected
