"""Cron queue type (`cron`): one work item per cron time.

An item is a moment the cron expression names; the task sees it in `HIPPO_DATA` as ISO
8601 with the offset of the queue's time zone, e.g. `2024-05-01T09:00:00+02:00`.

## Cursor and custody

The cursor is the ISO 8601 cron time of the last item handed out. A poll takes the cron
times after the cursor up to and including now, keeps the newest `maxbacklog` of them,
and hands out the oldest `limit` of those; the cursor moves to the last one handed out.
When nothing is due the cursor stays where it is.

A new queue starts from now, never from the past: its cursor starts as `null`, and the
first poll hands out nothing and sets the cursor to the poll's own time, so the first
item is the first cron time after that poll.

What resets the cursor: nothing in the settings (`source_identity` is `None`). The
cursor is an instant with its offset, which means the same under any `cronstring`,
`timezone` or `maxbacklog`: after a change, the new expression's times after the last
item handed out fall due (missed ones still obey `maxbacklog`), so nothing runs twice
and a schedule change does not start over.

Items are never deleted anywhere, so `ack` has nothing to do: custody is the cursor,
which Hippo stores together with the tasks.

For tests and tools, the clock is the instance attribute `now`, a callable returning an
aware `datetime` (default: the system clock in UTC).

## Errors

No error of this type is transient; a cursor that is not an ISO 8601 time raises
`QueueTypeError`.

## Example

```sh
curl -X POST http://localhost:8080/queues/ -H 'Content-Type: application/json' -d '{
  "cmd": "nightly-report --at \\"$HIPPO_DATA\\"",
  "container": {"docker": {"image": "example/reports:2"}},
  "queue": {"type": "cron", "name": "nightly report",
            "cron": {"cronstring": "30 2 * * *", "timezone": "Europe/Berlin",
                     "maxbacklog": 3}}
}'
```
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

from hippo_core.queuetype import Item, PollResult, QueueType, QueueTypeError

__all__ = ["CronQueueType"]

# Any date well inside croniter's range will do to ask "does this ever match?".
_PROBE_START = datetime(2000, 1, 1, tzinfo=UTC)


def _system_clock() -> datetime:
    return datetime.now(UTC)


def cronstring_problem(cronstring: str) -> str | None:
    """Why croniter refuses ``cronstring`` or why it never fires; ``None`` when usable."""
    try:
        croniter(cronstring, _PROBE_START, hash_id="validate").get_next(datetime)
    except CroniterBadDateError as exc:
        return f"the cron expression never matches a date ({exc})"
    except (CroniterError, ValueError) as exc:
        return f"invalid cron expression: {exc}"
    return None


def timezone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'"
    return None


class CronQueueType(QueueType):
    name: ClassVar[str] = "cron"
    label: ClassVar[str] = "Cron schedule"

    def __init__(self, settings: dict[str, Any], queue_id: str) -> None:
        super().__init__(settings, queue_id)
        self.cronstring: str = settings["cronstring"]
        self.maxbacklog: int = settings["maxbacklog"]
        self.zone = ZoneInfo(settings["timezone"])
        self.now: Callable[[], datetime] = _system_clock

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> list[tuple[str, str]]:
        errors = []
        if problem := cronstring_problem(settings["cronstring"]):
            errors.append(("$.cronstring", problem))
        if problem := timezone_problem(settings["timezone"]):
            errors.append(("$.timezone", problem))
        return errors

    def source_name(self) -> str:
        return f"cron schedule {self.cronstring!r} in {self.settings['timezone']}"

    def poll(self, limit: int, cursor: Any) -> PollResult:
        now = self._now()
        if cursor is None:
            return PollResult([], now.isoformat())
        taken = self.due(self._parse_cursor(cursor), now)[:limit]
        if not taken:
            return PollResult([], cursor)
        return PollResult([Item(data=t.isoformat()) for t in taken], taken[-1].isoformat())

    def due(self, after: datetime, now: datetime) -> list[datetime]:
        """The newest ``maxbacklog`` cron times in ``(after, now]``, oldest first.

        Walks back from now, so a cursor months old costs ``maxbacklog`` steps, not one
        per missed time.
        """
        # croniter's get_prev is strict; starting a second past now (on a whole second,
        # the finest cron unit) lets a cron time equal to now count as due.
        start = now.replace(microsecond=0) + timedelta(seconds=1)
        times = croniter(self.cronstring, start, hash_id=self.queue_id)
        newest_first: list[datetime] = []
        while len(newest_first) < self.maxbacklog:
            try:
                moment = times.get_prev(datetime)
            except CroniterBadDateError:  # an expression bounded in years has no earlier time
                break
            if moment <= after:
                break
            newest_first.append(moment)
        return newest_first[::-1]

    def _now(self) -> datetime:
        now = self.now()
        if now.tzinfo is None:
            raise ValueError("CronQueueType.now must return an aware datetime")
        return now.astimezone(self.zone)

    def _parse_cursor(self, cursor: Any) -> datetime:
        try:
            moment = datetime.fromisoformat(cursor)
        except (TypeError, ValueError) as exc:
            raise QueueTypeError(
                f"{self.source_name()}: the stored cron cursor {cursor!r} is not an ISO 8601 time"
            ) from exc
        if moment.tzinfo is None:  # written by hand without an offset: read it in our zone
            moment = moment.replace(tzinfo=self.zone)
        return moment.astimezone(self.zone)
