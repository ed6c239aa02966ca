"""How Hippo logs: plain lines for people, or one JSON object per line for log collectors.

``--log-format json`` (``[log] format``, ``HIPPO_LOG_FORMAT``) writes each line as an
object with ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, the
traceback as ``exception``, and the ids of what the line is about as fields of their
own: ``task_id``, ``queue_id``, ``attempt_id``, ``family``. Those come from the
context the line was logged in (:func:`log_context`: a poll of a queue, a status update
of a task, an API request on ``/tasks/{task_id}/``), or from ``extra=`` of the call.
``--log-level`` (``log_level``, ``HIPPO_LOG_LEVEL``) chooses how much.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import orjson

from hippo_core.settings import Settings, setting

FORMATS = ("TEXT", "JSON")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ID_FIELDS = ("task_id", "attempt_id", "family", "queue_id")
CONTEXT_ATTR = "hippo_context"

# Never mutated: binding sets a new mapping, so threads and contexts never share one.
_EMPTY: Mapping[str, str] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "hippo_log_context", default=_EMPTY
)


@dataclass(frozen=True)
class LogSettings(Settings):
    table = "log"

    format: str = setting(
        "text", "`text` (lines for people) or `json` (one object per line, ids as fields).", choices=FORMATS
    )


@contextlib.contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """Lines logged inside (in this thread) carry these ids as fields (``None`` ones are left out)."""
    token = bind(**ids)
    try:
        yield
    finally:
        _context.reset(token)


def bind(**ids: str | None) -> contextvars.Token[Mapping[str, str]]:
    """Add ids to this thread's log context; undo with ``unbind(token)``."""
    return _context.set({**_context.get(), **{k: v for k, v in ids.items() if v is not None}})


def unbind(token: contextvars.Token[Mapping[str, str]]) -> None:
    _context.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, CONTEXT_ATTR, None) or _context.get())
        for name in ID_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return orjson.dumps(line, default=str).decode()


def capture_context() -> None:
    """Stamp each log record with the context it was logged in, when it is made.

    A record may be formatted later or elsewhere (a queued handler, a test's log capture),
    where the context is another or gone.
    """
    make = logging.getLogRecordFactory()
    if getattr(make, "captures_hippo_context", False):
        return

    def record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        made = make(*args, **kwargs)
        context = _context.get()
        if context:
            setattr(made, CONTEXT_ATTR, context)
        return made

    record.captures_hippo_context = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(record)


def setup(level: str, fmt: str = "text") -> None:
    """Log to stderr at ``level`` in format ``text`` or ``json`` (replacing earlier set-ups)."""
    capture_context()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt.lower() == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
