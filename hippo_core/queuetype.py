"""The queue-type contract: what a plugin implements so Hippo can poll a source.

A queue type is a class registered in the entry-point group ``hippo.queuetypes``
under its name (``sqs``, ``s3bucket``, ``redis``, ``sqlquery``, ``cron``, or a
third party's own). It declares:

- ``name`` and ``label``;
- its settings schema, a JSON schema (draft 2020-12) for the queue's settings block in
  ``schema.json`` beside the module that defines the class (read when the class is
  defined; a class may set ``schema`` itself instead), with a ``default`` on every
  optional property, a ``description`` on every property, and ``"x-hippo-secret"`` on
  secret ones (``true`` masks the whole value, ``"url-password"`` masks only the
  password of a connection URL);
- ``error_rules``: what the errors of its source's client library mean, as a table of
  :class:`ErrorRule` (transient and worth retrying soon, or for the user to fix).

and implements ``poll(limit, cursor)`` and, when the source needs it, ``ack(items)``;
``source_endpoints(settings)`` says which hosts, ports and files its settings point at,
for the source policy (:mod:`hippo_core.policy`).

Errors: whatever ``poll`` or ``ack`` raises is looked up in ``error_rules`` (first
match wins) and raised again as :class:`TransientError` (the class in
``transient_error``) or :class:`QueueTypeError`, its message naming the source
(:meth:`QueueType.source_name`) with the queue's secrets masked; a rule without a
message only classifies the error and leaves it as it is. A plugin may also raise
either class itself. An error no rule covers is left alone, and Hippo treats it as
permanent.

Custody: Hippo calls ``poll``, stores the tasks carrying the items *and* the
returned cursor in one Redis transaction, and only then calls ``ack``. A plugin
therefore never deletes anything in ``poll``; it hides or moves items (SQS
visibility, a Redis processing list) so that a crash before ``ack`` re-delivers
them. No plugin touches Hippo's Redis or Mesos.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, ClassVar

from hippo_core import secrets

JSON = Any

SCHEMA_FILE = "schema.json"
# The methods through which the poller reaches a source; their errors go through the table.
_TRANSLATED_METHODS = ("poll", "ack")


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


@dataclass(frozen=True)
class Endpoint:
    """A place a queue's settings make the poller reach: a server, or a file on the worker host.

    ``setting`` names the setting it comes from (``conn_string``), for messages. ``host``
    and ``port`` a network server (``port`` ``None`` when unknown); ``database`` what the
    server holds the source in when that decides what is read (a Redis db number);
    ``path`` a local file the poller opens (a SQLite database).
    """

    setting: str
    host: str | None = None
    port: int | None = None
    database: str | None = None
    path: str | None = None


class QueueTypeError(Exception):
    """A source failed in a way the user must see (bad credentials, bad SQL, no such queue)."""


class TransientError(QueueTypeError):
    """A source failure worth retrying soon: the network, throttling, a server restarting.

    The poller retries it after a second (doubling), where other failures wait for the
    queue's frequency. Raise it, or a subclass naming the source (``DatabaseUnavailable``).
    """


class SchemaFileError(Exception):
    """A queue type's ``schema.json`` is missing or is not a JSON object."""


ErrorMessage = str | Callable[[Any, Any], str]


@dataclass(frozen=True)
class ErrorRule:
    """One line of a queue type's error table: which errors it covers and what they mean.

    ``error``: the exception class (or classes) of the source's client library.
    ``when``: a further test of the exception (an AWS error code in a set, a database
    error number), or ``None`` to take every exception of those classes.
    ``transient``: retried soon (``True``), or for the user to fix.
    ``message``: what the user reads after the source's name, either a template
    with ``{error}`` (the exception's text), ``{error_type}`` (its class name) and
    ``{queue}`` (the queue-type instance: ``{queue.settings[name]}``), or a function
    ``(queue, error) -> str``. Say what to do about it where there is something to do.
    ``None`` keeps the exception as it is and only classifies it, for errors whose
    own class and text already say everything.
    """

    error: type[BaseException] | tuple[type[BaseException], ...]
    message: ErrorMessage | None = "{error_type}: {error}"
    transient: bool = False
    when: Callable[[Any], bool] | None = None

    def matches(self, error: BaseException) -> bool:
        return isinstance(error, self.error) and (self.when is None or self.when(error))

    def describe(self, queue: QueueType, error: BaseException) -> str:
        if self.message is None:
            return str(error)
        if callable(self.message):
            return self.message(queue, error)
        return self.message.format(error=error, error_type=type(error).__name__, queue=queue)


def schema_path(queue_type: type) -> Traversable:
    """Where ``queue_type``'s ``schema.json`` is: in the directory of its module."""
    module = sys.modules[queue_type.__module__]
    spec = module.__spec__
    if spec is not None and spec.submodule_search_locations is not None:
        return resources.files(module).joinpath(SCHEMA_FILE)  # the module is a package
    if spec is not None and spec.parent:
        return resources.files(spec.parent).joinpath(SCHEMA_FILE)
    # A top-level module (a single-file plugin): no package to ask.
    return Path(module.__file__ or ".").resolve().parent / SCHEMA_FILE


def load_schema(queue_type: type) -> dict[str, Any]:
    """``queue_type``'s settings schema, read from :func:`schema_path`.

    Raises :class:`SchemaFileError` naming the file when it is missing or not a JSON object.
    """
    path = schema_path(queue_type)
    owner = f"{queue_type.__module__}.{queue_type.__qualname__}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaFileError(
            f"{owner} has no settings schema: {path} does not exist; write the JSON schema of its "
            f"settings there (and ship it as package data), or set `schema` on the class"
        ) from None
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaFileError(f"{path} (the settings schema of {owner}) is not valid JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise SchemaFileError(
            f"{path} (the settings schema of {owner}) must hold a JSON object, not {type(schema).__name__}"
        )
    return schema


def _translating(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` raising what the queue type's error table makes of its exceptions."""

    @functools.wraps(method)
    def translated(self: QueueType, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            error = self.translate_error(exc)
            if error is exc:
                raise
            raise error from exc

    translated.__hippo_translating__ = True  # type: ignore[attr-defined]
    return translated


class QueueType:
    """Base class of every queue type. Subclasses set the class attributes and ``poll``.

    An instance is built once per queue and settings version (``__init__`` receives
    the validated settings with defaults filled in, and the queue's id) and reused
    across polls, so clients and connection pools live on the instance.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    # Read from schema.json beside the subclass's module unless the subclass (or a
    # queue type it extends) sets it.
    schema: ClassVar[dict[str, Any]]
    error_rules: ClassVar[tuple[ErrorRule, ...]] = ()
    # What a transient rule raises; a subclass of TransientError names the source in
    # the queue's last_error ("SqsTransientError: ...").
    transient_error: ClassVar[type[TransientError]] = TransientError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not hasattr(cls, "schema"):
            cls.schema = load_schema(cls)
        for name in _TRANSLATED_METHODS:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "__hippo_translating__", False):
                setattr(cls, name, _translating(method))

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

    @classmethod
    def source_endpoints(cls, settings: dict[str, Any]) -> list[Endpoint]:
        """Where these settings make the poller reach: each host, port and local file.

        Hippo checks them against the ``[policy]`` (:mod:`hippo_core.policy`) when a queue is
        created or changed, and again before each poll. Leave out endpoints no setting
        controls (AWS' own). Called with validated settings; must not contact the source.
        Default: none, so a queue type that does not say is not checked.
        """
        return []

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

    def source_name(self) -> str:
        """How messages name this queue's source (``SQS queue 'jobs' in eu-west-1``).

        Every error the table translates begins with it. Default: the type and queue id.
        """
        return f"{self.name} queue {self.queue_id}"

    def secret_values(self) -> list[str]:
        """The secrets of this queue's settings, masked in every message the table writes.

        Default: the values the schema marks ``x-hippo-secret`` (a URL's password alone).
        """
        return secrets.secret_values(self.schema, self.settings)

    def error_rule(self, error: BaseException) -> ErrorRule | None:
        """The first rule of ``error_rules`` that covers ``error``, if any."""
        return next((rule for rule in self.error_rules if rule.matches(error)), None)

    def translate_error(self, error: BaseException) -> BaseException:
        """What Hippo raises for ``error``: its table's verdict, or ``error`` itself.

        A :class:`QueueTypeError` has been judged already and stays as it is.
        """
        if isinstance(error, QueueTypeError):
            return error
        rule = self.error_rule(error)
        if rule is None or rule.message is None:
            return error
        message = secrets.scrub(f"{self.source_name()}: {rule.describe(self, error)}", self.secret_values())
        translated = self.transient_error(message) if rule.transient else QueueTypeError(message)
        # Notes say what else happened on the way out (messages left hidden); they stay.
        for note in getattr(error, "__notes__", ()):
            translated.add_note(note)
        return translated

    def is_transient(self, error: BaseException) -> bool:
        """Whether the poller should retry soon after ``error`` (from ``poll`` or ``ack``)."""
        if isinstance(error, QueueTypeError):
            return isinstance(error, TransientError)
        rule = self.error_rule(error)
        return rule is not None and rule.transient
