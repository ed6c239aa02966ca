"""Polling a cron queue with a clock the test moves: cursor, backlog, limits, time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hippo_core.queuetype import QueueTypeError
from hippo_cron import CronQueueType

DEFAULTS = {"cronstring": "* * * * *", "maxbacklog": 1, "timezone": "UTC"}


class Clock:
    """The time a queue sees; tests move it instead of sleeping."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def make(clock: Clock, queue_id: str = "queue-1", **settings: object) -> CronQueueType:
    queue = CronQueueType({**DEFAULTS, **settings}, queue_id)
    queue.now = clock
    return queue


def datas(result) -> list[str]:
    return [item.data for item in result.items]


def test_first_poll_takes_nothing_and_starts_the_cursor_at_now():
    clock = Clock(at("2024-05-01T12:00:30+00:00"))

    result = make(clock).poll(10, None)

    assert result.items == []
    assert result.cursor == "2024-05-01T12:00:30+00:00"


def test_the_first_item_is_the_first_cron_time_after_the_first_poll():
    clock = Clock(at("2024-05-01T12:00:30+00:00"))
    queue = make(clock)
    cursor = queue.poll(10, None).cursor

    clock.advance(seconds=20)
    early = queue.poll(10, cursor)
    clock.advance(seconds=10)
    due = queue.poll(10, early.cursor)

    assert early.items == [] and early.cursor == cursor
    assert datas(due) == ["2024-05-01T12:01:00+00:00"]
    assert due.cursor == "2024-05-01T12:01:00+00:00"


def test_a_cron_time_equal_to_now_is_due():
    clock = Clock(at("2024-05-01T12:01:00+00:00"))

    result = make(clock).poll(10, "2024-05-01T12:00:00+00:00")

    assert datas(result) == ["2024-05-01T12:01:00+00:00"]


def test_nothing_new_after_the_cursor_keeps_the_cursor():
    clock = Clock(at("2024-05-01T12:01:59+00:00"))

    result = make(clock).poll(10, "2024-05-01T12:01:00+00:00")

    assert result.items == []
    assert result.cursor == "2024-05-01T12:01:00+00:00"


@pytest.mark.parametrize(
    ("maxbacklog", "expected"),
    [
        # default: of the 5 missed minutes only the newest runs
        (1, ["12:05"]),
        # a backlog of 3 runs the newest three, oldest first
        (3, ["12:03", "12:04", "12:05"]),
        # a backlog larger than what was missed runs everything missed
        (10, ["12:01", "12:02", "12:03", "12:04", "12:05"]),
    ],
)
def test_missed_times_beyond_maxbacklog_are_skipped(maxbacklog, expected):
    clock = Clock(at("2024-05-01T12:05:10+00:00"))

    result = make(clock, maxbacklog=maxbacklog).poll(100, "2024-05-01T12:00:00+00:00")

    assert datas(result) == [f"2024-05-01T{hm}:00+00:00" for hm in expected]
    assert result.cursor == f"2024-05-01T{expected[-1]}:00+00:00"


def test_a_limit_takes_the_oldest_due_and_the_next_poll_the_rest():
    clock = Clock(at("2024-05-01T12:05:10+00:00"))
    queue = make(clock, maxbacklog=5)

    first = queue.poll(2, "2024-05-01T12:00:00+00:00")
    second = queue.poll(2, first.cursor)
    third = queue.poll(2, second.cursor)

    assert datas(first) == ["2024-05-01T12:01:00+00:00", "2024-05-01T12:02:00+00:00"]
    assert first.cursor == "2024-05-01T12:02:00+00:00"
    assert datas(second) == ["2024-05-01T12:03:00+00:00", "2024-05-01T12:04:00+00:00"]
    assert datas(third) == ["2024-05-01T12:05:00+00:00"]


def test_a_new_instance_continues_from_the_stored_cursor():
    clock = Clock(at("2024-05-01T12:02:10+00:00"))
    cursor = make(clock, maxbacklog=5).poll(10, "2024-05-01T12:00:00+00:00").cursor

    clock.advance(minutes=2)
    restarted = make(clock, maxbacklog=5).poll(10, cursor)

    assert cursor == "2024-05-01T12:02:00+00:00"
    assert datas(restarted) == ["2024-05-01T12:03:00+00:00", "2024-05-01T12:04:00+00:00"]


def test_a_cursor_a_year_old_yields_only_the_backlog():
    clock = Clock(at("2024-05-01T12:00:00+00:00"))

    result = make(clock, maxbacklog=2).poll(10, "2023-05-01T12:00:00+00:00")

    assert datas(result) == ["2024-05-01T11:59:00+00:00", "2024-05-01T12:00:00+00:00"]


def test_times_are_read_and_written_in_the_queues_time_zone():
    # 07:00 UTC is 09:00 in Berlin during summer time
    clock = Clock(at("2024-07-01T07:00:00+00:00"))

    result = make(clock, cronstring="0 9 * * *", timezone="Europe/Berlin").poll(
        10, "2024-06-30T12:00:00+02:00"
    )

    assert datas(result) == ["2024-07-01T09:00:00+02:00"]


def test_an_hourly_schedule_across_the_autumn_clock_change_runs_every_real_hour():
    # Berlin falls back from 03:00 CEST to 02:00 CET on 2024-10-27: 02:00 happens twice.
    clock = Clock(at("2024-10-27T03:30:00+01:00"))

    result = make(clock, cronstring="0 * * * *", timezone="Europe/Berlin", maxbacklog=10).poll(
        10, "2024-10-27T00:30:00+02:00"
    )

    assert datas(result) == [
        "2024-10-27T01:00:00+02:00",
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T02:00:00+01:00",
        "2024-10-27T03:00:00+01:00",
    ]


def test_a_cursor_in_another_offset_is_compared_as_a_moment():
    # 14:00+02:00 is 12:00 UTC, so 12:01 and 12:02 UTC are due
    clock = Clock(at("2024-05-01T12:02:00+00:00"))

    result = make(clock, maxbacklog=5).poll(10, "2024-05-01T14:00:00+02:00")

    assert datas(result) == ["2024-05-01T12:01:00+00:00", "2024-05-01T12:02:00+00:00"]


def test_seconds_field_schedules_below_a_minute():
    clock = Clock(at("2024-05-01T12:00:31.500000+00:00"))

    result = make(clock, cronstring="* * * * * */15", maxbacklog=5).poll(10, "2024-05-01T12:00:00+00:00")

    assert datas(result) == ["2024-05-01T12:00:15+00:00", "2024-05-01T12:00:30+00:00"]


def test_hashed_fields_depend_on_the_queue_id_and_are_stable():
    clock = Clock(at("2024-05-01T13:00:00+00:00"))
    cursor = "2024-05-01T12:00:00+00:00"

    def minute(queue_id: str) -> str:
        (item,) = make(clock, queue_id, cronstring="H * * * *").poll(1, cursor).items
        return item.data

    minutes = {queue_id: minute(queue_id) for queue_id in ("a", "b", "c", "d", "e")}

    assert minutes == {queue_id: minute(queue_id) for queue_id in minutes}
    assert len(set(minutes.values())) > 1, "five queues should not all land on one minute"


def test_a_damaged_cursor_is_a_permanent_error():
    queue = make(Clock(at("2024-05-01T12:00:00+00:00")))

    with pytest.raises(QueueTypeError, match="not an ISO 8601 time") as caught:
        queue.poll(1, "yesterday")

    assert not queue.is_transient(caught.value)


def test_the_default_clock_is_the_system_clock():
    queue = CronQueueType(DEFAULTS, "queue-1")
    before = datetime.now(UTC)

    cursor = queue.poll(1, None).cursor

    assert before <= datetime.fromisoformat(cursor) <= datetime.now(UTC)
