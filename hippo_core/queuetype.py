"""The queue-type contract: what a plugin implements so Hippo can poll a source.

A queue type is a class registered in the entry-point group ``hippo.queuetypes``
under its name (``sqs``, ``s3bucket``, ``redis``, ``sqlquery``, ``cron``, or a
third party's own). It declares:

- ``name`` and ``label``;
- ``schema``: a JSON schema (draft 2020-12) for the queue's settings block, with a
  ``default`` on every optional property and ``"x-hippo-secret"`` on secret ones
  (``true`` masks the whole value, ``"url-password"`` masks only the password of a
  connection URL);
- ``transient_errors``: exception classes worth retrying soon (throttling, a
  network blip); anything else is reported on the queue and backed off longer.

and implements ``poll(limit, cursor)`` and, when the source needs it, ``ack(items)``.

Custody: Hippo calls ``poll``, stores the tasks carrying the items *and* the
returned cursor in one Redis transaction, and only then calls ``ack``. A plugin
therefore never deletes anything in ``poll``; it hides or moves items (SQS
visibility, a Redis processing list) so that a crash before ``ack`` re-delivers
them. No plugin touches Hippo's Redis or Mesos.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

JSON = Any


@dataclass(frozen=True)
class Item:
    """One unit of work read from a source.

    ``data`` is what the task sees in ``HIPPO_DATA`` (joined with the queue's
    ``batch_separator`` when batched). ``receipt`` is the plugin's own handle for
    ``ack`` (an SQS receipt handle, the raw Redis list value); Hippo never reads it.
    """

    data: str
    receipt: Any = None


@dataclass
class PollResult:
    """What one poll found: the items, and the cursor to store once they are in custody.

    ``cursor`` is ``None`` for sources without one (SQS, Redis lists); for cursor
    sources it is any JSON value and is handed back to the next ``poll``.
    """

    items: list[Item] = field(default_factory=list)
    cursor: JSON = None


class QueueTypeError(Exception):
    """A source failed in a way the user must see (bad credentials, bad SQL, no such queue)."""


class QueueType:
    """Base class of every queue type. Subclasses set the class attributes and ``poll``.

    An instance is built once per queue and settings version (``__init__`` receives
    the validated settings with defaults filled in, and the queue's id) and reused
    across polls, so clients and connection pools live on the instance.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self, settings: dict[str, Any], queue_id: str) -> None:
        self.settings = settings
        self.queue_id = queue_id

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> list[tuple[str, str]]:
        """Cross-field and semantic rules the schema cannot express.

        Called at creation and update, after the schema passed, with defaults
        filled in. Returns ``(path, message)`` pairs, the path within the settings
        block either as a name (``"cronstring"``) or rooted at it (``"$.cronstring"``,
        ``"$"`` for the block); an empty list means valid. Must not contact the source.
        """
        return []

    @classmethod
    def initial_cursor(cls, settings: dict[str, Any]) -> JSON:
        """The cursor a new queue starts from (e.g. ``filter_val``).

        Hippo also uses it to notice that the user moved the starting point: when
        the value derived from the new settings differs from the one the stored
        cursor started from, the stored cursor is dropped.
        """
        return None

    @classmethod
    def source_identity(cls, settings: dict[str, Any]) -> JSON:
        """What identifies the source a cursor points into (bucket and prefix, database and query).

        When it changes, the stored cursor means nothing any more and Hippo drops it (as
        it does when the queue changes type or ``initial_cursor`` changes). Leave out what
        does not move the source, such as credentials, so that rotating a secret keeps the
        cursor. Default: ``None`` (a cursor that stays valid whatever the settings).
        """
        return None

    def poll(self, limit: int, cursor: JSON) -> PollResult:
        """Return new items (``limit`` >= 1) and the cursor after them.

        Return at most ``limit`` items, unless the source cannot split a group of
        items sharing one cursor value (rows with the same ``filter_field`` value):
        such a group is returned whole, since items behind the cursor are never seen
        again. The cursor returned is stored even when there are no items.
        """
        raise NotImplementedError

    def ack(self, items: list[Item]) -> None:
        """Remove items from the source now that Hippo holds them. Default: nothing to do."""

    def close(self) -> None:
        """Release clients and connections; called when the queue changes or is deleted."""

    def is_transient(self, error: BaseException) -> bool:
        return isinstance(error, self.transient_errors)
