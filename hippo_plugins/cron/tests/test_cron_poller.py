"""The poller driving ``cron`` queues, with the queue type's clock moved by the test: the
shared suite.

The registry holds the cron queue type with one change: each instance reads the test's
clock instead of the system's (the plugin's ``now`` attribute), so new Pollers and new
instances share it. Every second is a cron time here, so a source of N new items is the
clock moved N seconds on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from hippo_core.registry import QueueTypeRegistry
from hippo_core.testing.suites import PollerSuite, QueueSource, SourceFailure
from hippo_cron import CronQueueType

START = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class ClockedCron(CronQueueType):
    """The cron queue type reading ``ClockedCron.clock`` (set per test) for now."""

    clock: ClassVar[Clock] = Clock(START)

    def __init__(self, settings: dict[str, Any], queue_id: str) -> None:
        super().__init__(settings, queue_id)
        self.now = ClockedCron.clock


@pytest.fixture
def hippo_queuetypes() -> QueueTypeRegistry:
    """In place of the installed queue types: the pollers and QueueService get ClockedCron."""
    ClockedCron.clock = Clock(START)
    return QueueTypeRegistry.of(ClockedCron)


class EverySecond(QueueSource):
    queue_type = ClockedCron
    custody = "cursor"

    def settings(self) -> dict[str, Any]:
        return {"cronstring": "* * * * * *", "maxbacklog": 10_000}

    def started(self, poll: Callable[[], Any]) -> None:
        poll()  # a new queue starts from now: this first poll hands out nothing

    def add(self, count: int) -> list[str]:
        before = ClockedCron.clock.now
        ClockedCron.clock.now = before + timedelta(seconds=count)
        return [(before + timedelta(seconds=n)).isoformat() for n in range(1, count + 1)]


class TestCronPoller(PollerSuite):
    batch_separator = " "
    failures = (
        # Written by hand (or by another tool), where the poller stored a time.
        SourceFailure(
            "a stored cursor that is not a time",
            lambda source: {},
            says="'yesterday' is not an ISO 8601 time",
            transient=False,
            cursor="yesterday",
        ),
    )

    @pytest.fixture
    def queue_source(self, hippo_queuetypes: QueueTypeRegistry) -> EverySecond:
        return EverySecond()
