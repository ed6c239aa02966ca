"""A queue type's source as the shared suites see it: what a plugin's tests write once.

A plugin's tests subclass :class:`QueueSource` to say how to put items into its source
and what is left there, and hand an instance to the suites through a fixture named
``queue_source``. The ways the source fails are :class:`SourceFailure` rows of the
suite's ``failures``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from hippo_core.queuetype import JSON, QueueType


class QueueSource:
    """One source of a queue type under test: a list, a bucket, a table, a schedule.

    Class attributes say what kind of source it is; the methods arrange and inspect it.
    """

    queue_type: ClassVar[type[QueueType]]
    # "ack": items leave the source once Hippo acknowledges them (SQS, Redis lists).
    # "cursor": the source keeps its items and the stored cursor moves past them.
    custody: ClassVar[Literal["ack", "cursor"]]
    # Items come out oldest first (False: in any order, as SQS hands them out).
    ordered: ClassVar[bool] = True
    # How many items the backpressure test puts in: enough that taking them all would show.
    deep: ClassVar[int] = 10_000
    # Settings that make items in flight come back soon after a crash (SQS: a short
    # visibility timeout); the crash test adds them to the queue's settings.
    redelivery_settings: ClassVar[dict[str, Any]] = {}

    def settings(self) -> dict[str, Any]:
        """The settings block of a queue reading this source (defaults may be left out)."""
        raise NotImplementedError

    def add(self, count: int) -> list[str]:
        """Put ``count`` new items into the source; their ``data``, in the order the
        source hands them out (any order for an unordered source)."""
        raise NotImplementedError

    def remaining(self) -> int:
        """How many items the source still holds, handed out or not (``ack`` custody only)."""
        raise NotImplementedError(f"{type(self).__name__} keeps its items; remaining() means nothing")

    def started(self, poll: Callable[[], Any]) -> None:
        """Called once a queue on this source exists, before any item is added.

        ``poll()`` polls the queue now. A source that hands out nothing it held before
        the queue's first poll (cron: times after that poll) polls once here.
        """


@dataclass(frozen=True)
class SourceFailure:
    """A way the source fails a poll, and what the queue must then show.

    ``arrange(source)`` breaks the source, or returns settings that point at a broken
    one (a port nobody listens on); ``says`` is a part of ``last_error``; ``transient``
    whether the poll is retried soon. ``cursor``, when given, is stored as the queue's
    cursor before the poll (a cursor the queue type did not write).
    """

    id: str
    arrange: Callable[[Any], dict[str, Any]]
    says: str
    transient: bool
    cursor: JSON = None
