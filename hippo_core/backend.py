"""The backend contract: resources in, launches and kills out, status updates back.

The scheduler talks only to this interface; ``mesos`` and ``local`` implement it and
are found through the entry-point group ``hippo.backends``. Everything crossing the
boundary is a plain dataclass, never HTTP or protobuf JSON.

Threading: a backend calls its ``SchedulerCallbacks`` from its own thread(s), one
event at a time. A status update counts as handled only when ``status_update``
returns; if it raises, the backend must deliver the update again later (Mesos does
this by withholding the acknowledgement).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from hippo_core.errors import FieldError
from hippo_core.settings import Settings
from hippo_core.taskstate import MESOS_TERMINAL_STATES

if TYPE_CHECKING:
    from hippo_core.config import Config


@dataclass(frozen=True)
class Offer:
    """Resources of one agent offered to Hippo.

    ``attributes`` maps attribute names to their value rendered as text (TEXT as
    is, SCALAR as a number string, SET as ``{a,b}``, RANGES as ``[1-2,5-6]``), which
    is what Marathon constraints match against.
    """

    id: str
    agent_id: str
    hostname: str
    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskLaunch:
    """One task to start on the agent of an accepted offer.

    ``container`` is Hippo's (Marathon-style) container definition:
    ``{"docker": {"image", "network", "force_pull_image", "parameters": [{"key","value"}]},
    "volumes": [{"containerPath", "hostPath", "mode"}]}``.
    """

    task_id: str
    name: str
    agent_id: str
    cpus: float
    mem: float
    cmd: str
    env: dict[str, str]
    container: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskStatus:
    """A status update for one task, as the backend reported it.

    ``state`` is a :class:`~hippo_core.taskstate.MesosState` value, whatever the backend:
    Mesos' task states are the language of status updates.
    """

    task_id: str
    state: str
    agent_id: str | None = None
    hostname: str | None = None
    reason: str | None = None
    message: str | None = None
    source: str | None = None
    timestamp: float | None = None

    @property
    def terminal(self) -> bool:
        return self.state in MESOS_TERMINAL_STATES


class SchedulerCallbacks(Protocol):
    def registered(self, framework_id: str) -> None:
        """Subscribed (or resubscribed) as ``framework_id``; reconcile before trusting books."""

    def offers(self, offers: list[Offer]) -> None: ...

    def rescinded(self, offer_id: str) -> None: ...

    def status_update(self, status: TaskStatus) -> None: ...

    def disconnected(self, reason: str) -> None:
        """The connection to the cluster is gone; the backend is reconnecting."""

    def error(self, message: str) -> None:
        """The cluster refused Hippo for good (e.g. framework removed); stop driving it."""


STREAMS = ("stdout", "stderr")
# What one read by offset returns at most per stream; the reader asks again from next_offset.
LOG_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class LogText:
    """Part of one output stream: ``text`` (UTF-8, invalid bytes replaced) of a stream of ``size`` bytes.

    ``offset`` is the byte of the stream where ``text`` begins and ``next_offset`` the byte
    to read on from (what a follower passes as its next offset); ``truncated`` says that
    bytes before ``offset`` were left out of a read of the stream's end. A backend that
    leaves them ``None`` read the end: ``next_offset`` is then ``size``.
    """

    text: str
    size: int
    truncated: bool
    offset: int | None = None
    next_offset: int | None = None

    def as_dict(self) -> dict[str, object]:
        next_offset = self.size if self.next_offset is None else self.next_offset
        offset = self.offset
        if offset is None:
            offset = max(0, next_offset - len(self.text.encode("utf-8", "surrogateescape")))
        return {
            "text": self.text,
            "size": self.size,
            "truncated": self.truncated,
            "offset": offset,
            "next_offset": next_offset,
        }


def whole_characters(data: bytes) -> int:
    """How many bytes of ``data`` end on a whole UTF-8 character: a character cut at the end
    of a read is left for the next one (its other bytes are not in the file yet, or not read)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: look further back for its lead
        if byte < 0x80 or byte >= 0xF8:
            return len(data)  # ASCII, or a byte no UTF-8 character begins with
        needed = 2 if byte >= 0xC0 and byte < 0xE0 else 3 if byte < 0xF0 else 4
        return len(data) if back >= needed else len(data) - back
    return len(data)


def read_text(data: bytes, size: int, offset: int) -> LogText:
    """A read by offset of a stream of ``size`` bytes: ``data`` read from ``offset``, cut to
    whole characters (the rest is the next read's)."""
    data = data[: whole_characters(data)]
    return LogText(data.decode("utf-8", errors="replace"), size, False, offset, offset + len(data))


@dataclass(frozen=True)
class AttemptLogs:
    """What one attempt wrote: its stdout and stderr, and a warning when it did not run as asked."""

    attempt_id: str
    stdout: LogText
    stderr: LogText
    warning: str | None = None


class Backend(ABC):
    """Where tasks run. Calls are thread-safe and must not block for long.

    A backend is used for one leadership term: ``start`` once, then ``stop`` or
    ``shutdown`` once; the worker builds a fresh one (``from_config``) for each term.
    The API builds one too, never started, for what it asks of the backend outside a
    term: ``validate`` and ``read_logs``.

    Two endings, because a term ending is not Hippo stopping: ``stop`` ends the term
    (the lease was lost, Redis stalled) and must leave every task running, for the next
    term (here or on another worker) reconciles and keeps them; ``shutdown`` is Hippo
    itself stopping (SIGTERM, Ctrl-C), where a backend whose tasks nothing else would
    supervise ends them.
    """

    name: str = ""
    # The table of the config file this backend reads (``[mesos]``), if it has settings.
    settings: ClassVar[type[Settings] | None] = None

    @classmethod
    def from_config(cls, config: Config) -> Backend:
        """Build the backend from Hippo's settings, its own table read with ``config.section``."""
        raise TypeError(f"backend {cls.__name__} does not implement from_config(config)")

    @abstractmethod
    def start(self, callbacks: SchedulerCallbacks, framework_id: str | None) -> None:
        """Connect and begin delivering callbacks; ``framework_id`` resumes an earlier run."""

    @abstractmethod
    def stop(self) -> None:
        """End this term: disconnect without tearing the framework down; tasks keep running.

        No callback is made once it returns. Updates not yet delivered are not lost: the
        next term's reconciliation asks for them.
        """

    @abstractmethod
    def shutdown(self) -> None:
        """Hippo is stopping: ``stop``, and end the tasks nothing but Hippo supervises.

        A cluster keeps its tasks running without a framework connected (Mesos: within
        the failover timeout), so there this is ``stop``. A backend that is itself the
        tasks' supervisor (``local``) kills them and remembers why, so that the next
        start reports them truthfully.
        """

    @abstractmethod
    def accept(self, offer_ids: list[str], launches: list[TaskLaunch], refuse_seconds: float) -> None:
        """Launch tasks on the offers (all from one agent); unused resources are declined."""

    @abstractmethod
    def decline(self, offer_ids: list[str], refuse_seconds: float) -> None: ...

    @abstractmethod
    def kill(self, task_id: str, agent_id: str | None) -> None: ...

    @abstractmethod
    def reconcile(self, tasks: list[tuple[str, str | None]]) -> None:
        """Ask for the state of ``(task_id, agent_id)`` pairs; an empty list asks for all."""

    @abstractmethod
    def suppress(self) -> None:
        """Stop sending offers: nothing is pending."""

    @abstractmethod
    def revive(self) -> None:
        """Send offers again, clearing refuse filters: work has arrived."""

    def offers_suppressed(self) -> bool:
        """Whether offers are held back now by what this backend last told the cluster.

        Asked right after ``registered``: a resubscription may carry an earlier SUPPRESS
        into the new subscription (Mesos' ``suppressed_roles``), and then no offer comes
        until the scheduler revives. Default: offers flow after registration.
        """
        return False

    def validate(self, definition: Mapping[str, Any]) -> list[FieldError]:
        """What this backend could never run in a task definition (schema-valid, defaults filled).

        Called by the API before anything is stored (a 400 listing the problems) and by
        the worker again before a launch, since a task may predate a rule. Paths are
        JSONPaths into the definition (``$.container.volumes[0].hostPath``). Default: no rules.
        """
        return []

    def use_framework_id(self, lookup: Callable[[], str | None]) -> None:
        """For a backend built outside a term (the API's): how to learn the framework id the
        leading worker registered as (``Store.framework_id``), which finding an attempt's
        output may need. Default: not needed."""
        return None

    def has_logs(self, attempt_id: str, agent_id: str | None) -> bool:
        """Whether ``read_logs`` may find output of this attempt (cheap: no remote calls)."""
        return False

    def read_logs(
        self,
        attempt_id: str,
        agent_id: str | None,
        tail: int | None = None,
        offset: Mapping[str, int] | None = None,
    ) -> AttemptLogs | None:
        """What the attempt wrote, or ``None`` if this backend has nothing of it. Default: no logs.

        Each stream ``offset`` names (``{"stdout": bytes already read}``) is read from that
        byte on, at most ``LOG_CHUNK_BYTES`` of it, ending on a whole UTF-8 character
        (``next_offset`` says where the next read starts: :func:`read_text`); every other
        stream from its end (the last ``tail`` bytes, at most ``LOG_CHUNK_BYTES``). An
        offset past its stream's end raises ``ValueError`` saying so. Raises
        :class:`LogsUnavailable` when it knows why output that existed cannot be read (its
        agent is gone, its sandbox was removed, its agent does not answer).
        """
        return None


class LogsUnavailable(Exception):
    """An attempt's output cannot be read, and why, in words for the user.

    ``transient``: it may be readable later (a host that did not answer), as opposed to
    gone for good (its machine left the cluster, its files were removed).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class BackendError(Exception):
    """A call to the backend could not be delivered; the caller decides what to retry."""


class NotConnected(BackendError):
    """The call was not sent at all: the backend is not (or no longer) connected."""
