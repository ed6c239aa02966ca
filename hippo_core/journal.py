"""What Hippo keeps of its events in Redis: each task's history, the live stream, hourly counts.

The store writes these in the same transaction as the change an event describes (a
task's compare-and-set write, a queue's MULTI), so a task's history and the stream say
exactly what the event hook was told, and nothing is written for a change that did
not happen. This module holds their settings (``[events]``) and how an
:class:`~hippo_core.events.Event` becomes each of them; the store owns the keys.

- **History** of a task: every task event of it (created, each state it entered,
  retries, kill requests), oldest first, the newest ``history_per_task`` kept.
- **Stream**: task and queue events, and the worker's leader and backend events, in a
  capped Redis stream (about ``stream_length`` entries), which ``GET /events/`` serves
  as server-sent events; its entry ids are the events' ids, so a client resumes where
  it stopped.
- **Counts per minute** (launched, finished, failed, retried, killed), kept two hours,
  for ``GET /status/``'s last hour.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

from hippo_core.events import Event
from hippo_core.settings import Settings, setting


@dataclass(frozen=True)
class EventsSettings(Settings):
    table = "events"

    history_per_task: int = setting(
        200, "Events kept in each task's history (the newest; GET /tasks/{id}/events/).", minimum=1
    )
    stream_length: int = setting(
        100_000,
        "Events kept in the live stream GET /events/ resumes from (about; older ones are trimmed).",
        minimum=100,
    )
    heartbeat_seconds: float = setting(
        15.0, "Seconds between heartbeats on an idle GET /events/ stream.", minimum=0.1, maximum=3600
    )
    max_streams: int = setting(
        4,
        "GET /events/ streams one API process serves at once (each holds one of its api_threads).",
        minimum=0,
    )


# Events of these kinds go into the stream; the rest (offers, launches sent, polls that
# found nothing) are the worker's business, seen in metrics and logs.
STREAMED_PREFIXES = ("task.", "queue.", "leader.", "backend.")
NOT_STREAMED = frozenset({"task.launched"})

# What each task event counts as in the per-minute counts.
COUNTED = {
    "task.STAGING": "launched",
    "task.FINISHED": "finished",
    "task.FAILED": "failed",
    "task.KILLED": "killed",
}
COUNT_NAMES = ("launched", "finished", "failed", "retried", "killed")
COUNTS_KEPT_SECONDS = 7200


def streamed(event: Event) -> bool:
    if event.kind in NOT_STREAMED or not event.kind.startswith(STREAMED_PREFIXES):
        return False
    # A poll that took nothing changes nothing anyone watches for.
    return not (event.kind == "queue.polled" and not event.data.get("items"))


def counted_as(event: Event) -> str | None:
    """The per-minute count an event adds to, if any (a re-run through the API is no retry)."""
    if event.kind == "task.retry":
        return None if event.data.get("kind") == "rerun" else "retried"
    return COUNTED.get(event.kind)


def encode(event: Event) -> str:
    """The event as stored in a history or the stream: its one JSON payload (UTF-8 text:
    a lone surrogate in a message becomes U+FFFD rather than failing the write)."""
    payload = event.to_json()
    try:
        return orjson.dumps(payload).decode()
    except TypeError:
        text = json.dumps(payload, ensure_ascii=False, default=str)
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def decode(raw: str | bytes) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(raw)
    return value


def minute_of(event: Event) -> int:
    return int(event.time // 60)
