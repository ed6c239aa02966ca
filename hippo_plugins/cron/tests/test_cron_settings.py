"""The cron settings: the contract suite, defaults, checks and validate()."""

from __future__ import annotations

from typing import ClassVar

import pytest

from hippo_core.errors import ValidationFailed
from hippo_core.testing.suites import QueueTypeSuite
from hippo_core.validation import validate as validate_schema
from hippo_cron import CronQueueType

DEFAULTS = {"cronstring": "* * * * *", "maxbacklog": 1, "timezone": "UTC"}


class TestCronContract(QueueTypeSuite):
    queue_type = CronQueueType
    required: ClassVar[list[str]] = []
    secrets: ClassVar[set[str]] = set()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # an empty block is a valid every-minute queue
        ({}, DEFAULTS),
        # given values win over defaults
        ({"cronstring": "@hourly", "maxbacklog": 5}, {**DEFAULTS, "cronstring": "@hourly", "maxbacklog": 5}),
    ],
)
def test_schema_fills_defaults(given, expected):
    assert validate_schema(CronQueueType.schema, given) == expected


@pytest.mark.parametrize(
    ("given", "path"),
    [
        ({"maxbacklog": 0}, "$.maxbacklog"),  # at least one time runs
        ({"maxbacklog": 10001}, "$.maxbacklog"),  # and the backlog is bounded
        ({"maxbacklog": 1.5}, "$.maxbacklog"),  # in whole times
        ({"cronstring": ""}, "$.cronstring"),  # an empty expression is no schedule
        ({"schedule": "* * * * *"}, "$.schedule"),  # unknown fields are refused
    ],
)
def test_schema_refuses(given, path):
    with pytest.raises(ValidationFailed) as caught:
        validate_schema(CronQueueType.schema, given)
    assert path in [error.path for error in caught.value.errors]


@pytest.mark.parametrize(
    ("overrides", "path", "reason"),
    [
        ({}, None, None),  # defaults are valid
        ({"cronstring": "*/5 9-17 * * mon-fri"}, None, None),  # ranges, steps, names
        ({"cronstring": "@daily"}, None, None),  # nicknames
        ({"cronstring": "* * * * * */10"}, None, None),  # a 6th field of seconds
        ({"cronstring": "H H * * *"}, None, None),  # hashed fields
        ({"timezone": "America/New_York"}, None, None),  # any IANA zone
        # croniter's own reason is passed on
        ({"cronstring": "61 * * * *"}, "$.cronstring", "out of range"),
        ({"cronstring": "every minute"}, "$.cronstring", "invalid cron expression"),
        ({"cronstring": "* * * *"}, "$.cronstring", "invalid cron expression"),
        # well-formed but matching no date at all (February 30th)
        ({"cronstring": "0 0 30 2 *"}, "$.cronstring", "never matches"),
        ({"timezone": "Mars/Olympus"}, "$.timezone", "unknown time zone 'Mars/Olympus'"),
        ({"timezone": "../etc/passwd"}, "$.timezone", "unknown time zone"),
    ],
)
def test_validate(overrides, path, reason):
    errors = CronQueueType.validate({**DEFAULTS, **overrides})
    if path is None:
        assert errors == []
    else:
        assert len(errors) == 1
        assert errors[0][0] == path
        assert reason in errors[0][1]


def test_validate_reports_every_problem_at_once():
    errors = CronQueueType.validate({**DEFAULTS, "cronstring": "bad", "timezone": "Nowhere"})
    assert [path for path, _ in errors] == ["$.cronstring", "$.timezone"]


def test_initial_cursor_is_null_so_the_first_poll_starts_from_now():
    assert CronQueueType.initial_cursor(DEFAULTS) is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"cronstring": "30 2 * * *"},  # a new schedule carries on after the last item
        {"timezone": "Europe/Berlin"},  # the cursor is an instant with its offset
        {"maxbacklog": 50},
    ],
)
def test_no_setting_moves_the_source_of_the_cursor(overrides):
    assert CronQueueType.source_identity(DEFAULTS) is None
    assert CronQueueType.source_identity({**DEFAULTS, **overrides}) is None
