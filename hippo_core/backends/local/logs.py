"""Where the local backend keeps each attempt's files, and reading them back for the API.

Layout, one directory per attempt (the attempt's mesos id), like a Mesos sandbox::

    <data_dir>/tasks/<attempt mesos id>/
        stdout     what the task wrote to standard output
        stderr     ... and to standard error
        WARNING    present when the task did not run as asked (no Docker engine:
                   the image was not used); one line saying so
        docker.env the task's environment for ``docker run --env-file`` (mode 0600),
                   there only while the task's docker client runs

The directory is also the task's working directory when it runs as a plain process.
Files are kept until someone removes them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from hippo_core.backend import LOG_CHUNK_BYTES, STREAMS, AttemptLogs, LogText

WARNING_FILE = "WARNING"
# What one read of a stream's end returns at most; more is cut from the front (the end matters).
MAX_READ_BYTES = LOG_CHUNK_BYTES

# Mesos ids Hippo makes are `<family>.<uuid>`; anything else (a slash, `..`) is not ours.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


class LogStore:
    """The attempts' directories under ``<data_dir>/tasks``."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.root = Path(data_dir).expanduser() / "tasks"

    def sandbox(self, attempt_id: str) -> Path:
        if not _SAFE_NAME.match(attempt_id) or ".." in attempt_id:
            raise ValueError(f"{attempt_id!r} is not a task id the local backend can keep files for")
        return self.root / attempt_id

    def create(self, attempt_id: str) -> Path:
        """The attempt's directory, made if needed (``OSError`` if it cannot be)."""
        path = self.sandbox(attempt_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write_warning(self, attempt_id: str, text: str) -> None:
        (self.sandbox(attempt_id) / WARNING_FILE).write_text(text.rstrip("\n") + "\n")

    def has_logs(self, attempt_id: str) -> bool:
        try:
            path = self.sandbox(attempt_id)
        except ValueError:
            return False
        return any((path / stream).is_file() for stream in STREAMS)

    def read(
        self, attempt_id: str, tail: int | None = None, offset: Mapping[str, int] | None = None
    ) -> AttemptLogs | None:
        """Both streams of the attempt (their last ``tail`` bytes), or with ``offset`` the
        streams it names from their offsets on (see ``Backend.read_logs``); ``None`` if it has none."""
        if not self.has_logs(attempt_id):
            return None
        path = self.sandbox(attempt_id)
        warning_file = path / WARNING_FILE
        warning = warning_file.read_text(errors="replace").strip() if warning_file.is_file() else None
        texts: dict[str, LogText | None]
        if offset is None:
            limit = MAX_READ_BYTES if tail is None else max(0, min(tail, MAX_READ_BYTES))
            texts = {stream: _read_end(path / stream, limit) for stream in STREAMS}
        else:
            unknown = set(offset) - set(STREAMS)
            if unknown:
                raise ValueError(f"no stream {', '.join(sorted(unknown))}; streams: {', '.join(STREAMS)}")
            texts = {
                stream: _read_from(path / stream, stream, offset[stream]) if stream in offset else None
                for stream in STREAMS
            }
        return AttemptLogs(
            attempt_id=attempt_id, stdout=texts["stdout"], stderr=texts["stderr"], warning=warning or None
        )


def _read_end(path: Path, limit: int) -> LogText:
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            start = max(0, size - limit)
            fh.seek(start)
            data = fh.read(size - start)
    except FileNotFoundError:
        return LogText("", 0, False, 0, 0)
    return LogText(data.decode("utf-8", errors="replace"), size, start > 0, start, start + len(data))


def _read_from(path: Path, stream: str, start: int) -> LogText:
    """At most ``LOG_CHUNK_BYTES`` of the file from byte ``start``, ending on a whole character."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if start > size:
                raise ValueError(f"offset {start} is past the end of {stream} ({size} bytes)")
            fh.seek(start)
            data = fh.read(min(LOG_CHUNK_BYTES, size - start))
    except FileNotFoundError:
        size, data = 0, b""
        if start > 0:
            raise ValueError(f"offset {start} is past the end of {stream} (0 bytes)") from None
    data = data[: whole_characters(data)]
    return LogText(data.decode("utf-8", errors="replace"), size, False, start, start + len(data))


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
