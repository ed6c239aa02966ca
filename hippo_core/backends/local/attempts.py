"""What the local backend keeps on disk of its attempts, so that they survive a crash of Hippo.

Layout, under ``<data_dir>/local/``::

    instance                this Hippo's instance id (its containers carry it as a label)
    attempts/<id>.json      an attempt accepted here whose ending Hippo has not yet been
                            told: what it asked for, whether Hippo asked to kill it, and how
                            it ended when the backend (not the runner) decided that
    attempts/<id>.pid       its runner: pid, start time and boot id (so a recycled pid is
                            never mistaken for it), when the command started, its process
                            group; written by the runner, exclusively, before it starts anything
    attempts/<id>.exit      how it ended: written by the runner when the command ended, or by
                            a backend that found the attempt never claimed by a runner
    attempts/<id>.log       the runner's own complaints, if any

All four go once the attempt's ending has been delivered to Hippo (applied to Redis).
Every file is written whole or not at all (a temporary file renamed), so a crash never
leaves half a record.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hippo_core.backends.local.endings import NEVER_STARTED
from hippo_core.backends.local.runner import write_json

log = logging.getLogger(__name__)


@dataclass
class AttemptRecord:
    """One attempt as the backend remembers it (``<id>.json``)."""

    task_id: str
    cpus: float
    mem: float
    docker: bool
    image: str | None = None
    accepted_at: float = 0.0
    # None, endings.KILL_REQUESTED (Hippo asked) or endings.KILL_SHUTDOWN (Hippo was stopping).
    kill: str | None = None
    # An ending the backend decided ({"state", "reason", "message", "source"}), if not the runner.
    ending: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AttemptRecord:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "extra"}
        return cls(**known, extra={k: v for k, v in data.items() if k not in cls.__dataclass_fields__})


class AttemptRecords:
    """The records under ``<data_dir>/local``."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.root = Path(data_dir).expanduser() / "local"
        self.dir = self.root / "attempts"

    def instance_id(self) -> str:
        """This Hippo's id, made on first use: containers it starts carry it as a label."""
        path = self.root / "instance"
        with contextlib.suppress(FileNotFoundError):
            text = path.read_text().strip()
            if text:
                return text
        self.root.mkdir(parents=True, exist_ok=True)
        candidate = f"hippo-{uuid.uuid4().hex[:12]}"
        tmp = path.with_name(f"instance.{os.getpid()}.tmp")
        tmp.write_text(candidate + "\n")
        try:
            os.link(tmp, path)  # a second process making one at the same moment keeps the first
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        return path.read_text().strip()

    def path(self, attempt_id: str, kind: str) -> Path:
        return self.dir / f"{attempt_id}.{kind}"

    def save(self, record: AttemptRecord) -> None:
        """Write the record (``OSError`` if it cannot be)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        data = asdict(record)
        data.update(data.pop("extra"))
        write_json(str(self.path(record.task_id, "json")), data)

    def load_all(self) -> list[AttemptRecord]:
        """Every record, oldest first; an unreadable one is logged and skipped."""
        if not self.dir.is_dir():
            return []
        records = []
        for path in self.dir.glob("*.json"):
            try:
                records.append(AttemptRecord.from_json(json.loads(path.read_text())))
            except (OSError, ValueError, TypeError) as exc:
                log.error("cannot read %s (%s); that attempt is not adopted", path, exc)
        return sorted(records, key=lambda r: r.accepted_at)

    def read(self, attempt_id: str, kind: str) -> dict[str, Any] | None:
        """The runner's ``pid`` or ``exit`` file, or ``None`` if there is none."""
        try:
            data = json.loads(self.path(attempt_id, kind).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.error("cannot read the %s file of attempt %s: %s", kind, attempt_id, exc)
            return None
        return data if isinstance(data, dict) else None

    def log_tail(self, attempt_id: str, size: int = 2000) -> str:
        """The end of the runner's own log: why it failed, if it did."""
        try:
            with open(self.path(attempt_id, "log"), "rb") as fh:
                fh.seek(max(0, os.fstat(fh.fileno()).st_size - size))
                return fh.read().decode(errors="replace").strip()
        except OSError:
            return ""

    def abandon(self, attempt_id: str) -> bool:
        """Mark an attempt no runner has claimed as never started; False if a runner claimed it.

        The runner writes its pid file exclusively and then looks for the exit file; this
        writes the exit file exclusively and then looks for the pid file. Whichever comes
        second sees the other, so an attempt is never both abandoned and run.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        exit_file = self.path(attempt_id, "exit")
        if not write_json(str(exit_file), {"stage": NEVER_STARTED}, exclusive=True):
            return False  # the runner has ended it already
        if not self.path(attempt_id, "pid").exists():
            return True
        # Claimed first: the runner may be running the command. Our mark must not stand
        # for its ending (if it saw the mark it gave up, and its attempt ends as lost).
        with contextlib.suppress(OSError, ValueError):
            if json.loads(exit_file.read_text()).get("stage") == NEVER_STARTED:
                exit_file.unlink()
        return False

    def forget_runner(self, attempt_id: str) -> None:
        """Remove a dead runner's pid file, so that a new runner can claim the attempt."""
        self.path(attempt_id, "pid").unlink(missing_ok=True)

    def remove(self, attempt_id: str) -> None:
        """Forget the attempt: its ending has been delivered."""
        for kind in ("json", "exit", "pid", "log"):
            try:
                self.path(attempt_id, kind).unlink(missing_ok=True)
            except OSError as exc:
                log.warning("could not remove %s: %s", self.path(attempt_id, kind), exc)
