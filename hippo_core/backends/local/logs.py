"""Where the local backend keeps each attempt's files, and reading them back for the API.

Layout, one directory per attempt (the attempt's mesos id), like a Mesos sandbox::

    <data_dir>/tasks/<attempt mesos id>/
        stdout     what the task wrote to standard output (at most ``[local]
                   max_output_bytes``, then a line saying the rest was dropped)
        stderr     ... and to standard error
        WARNING    present when the task did not run as asked (no Docker engine:
                   the image was not used); one line saying so
        docker.env the task's environment for ``docker create --env-file`` (mode 0600),
                   there only until the container is created

The directory is also the task's working directory when it runs as a plain process.
Files are kept until someone removes them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from hippo_core.backend import LOG_CHUNK_BYTES, STREAMS, AttemptLogs, LogText, read_text

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
        # Only Hippo (and the task's user, see [policy] run_as_user) may read a task's files.
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
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
        """Both streams of the attempt, those ``offset`` names from there on, the others their
        last ``tail`` bytes (see ``Backend.read_logs``); ``None`` if it has none."""
        if not self.has_logs(attempt_id):
            return None
        path = self.sandbox(attempt_id)
        warning_file = path / WARNING_FILE
        warning = warning_file.read_text(errors="replace").strip() if warning_file.is_file() else None
        offset = offset or {}
        unknown = set(offset) - set(STREAMS)
        if unknown:
            raise ValueError(f"no stream {', '.join(sorted(unknown))}; streams: {', '.join(STREAMS)}")
        limit = MAX_READ_BYTES if tail is None else max(0, min(tail, MAX_READ_BYTES))
        texts = {
            stream: _read_from(path / stream, stream, offset[stream])
            if stream in offset
            else _read_end(path / stream, limit)
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
    return read_text(data, size, start)
