"""Sandboxes of simulated executors: their files, and the paths an agent serves them under.

A real agent runs each executor in ``<work_dir>/slaves/<agent id>/frameworks/<framework
id>/executors/<executor id>/runs/<container id>`` and attaches that directory to its
files API under three names (``Slave::_launch`` / ``attach``):

- the directory itself;
- ``.../runs/latest`` under the work directory (a symlink to the newest run);
- the virtual ``/frameworks/<framework id>/executors/<executor id>/runs/latest``.

A command task's executor id is its task id, so the task's output is at
``/frameworks/<fid>/executors/<task id>/runs/latest/stdout``. When the sandbox is
garbage-collected its names are detached and the files API answers 404. The peer
keeps the files in memory.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

STREAMS = ("stdout", "stderr")


@dataclass
class Sandbox:
    agent_id: str
    framework_id: str
    executor_id: str
    directory: str
    container_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    files: dict[str, bytearray] = field(default_factory=lambda: {s: bytearray() for s in STREAMS})
    mtimes: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STREAMS, time.time()))
    collected: bool = False

    def write(self, stream: str, data: str | bytes) -> None:
        if stream not in self.files:
            raise ValueError(f"a sandbox has files {', '.join(STREAMS)}, not {stream!r}")
        self.files[stream] += data.encode("utf-8") if isinstance(data, str) else bytes(data)
        self.mtimes[stream] = time.time()


def executor_directory(work_dir: str, agent_id: str, framework_id: str, executor_id: str) -> str:
    return f"{work_dir}/slaves/{agent_id}/frameworks/{framework_id}/executors/{executor_id}/runs"


def virtual_latest(framework_id: str, executor_id: str) -> str:
    return f"/frameworks/{framework_id}/executors/{executor_id}/runs/latest"


class Attachments:
    """The paths an agent's files API serves, each naming a sandbox directory."""

    def __init__(self, work_dir: str, agent_id: str) -> None:
        self.work_dir = work_dir
        self.agent_id = agent_id
        self._paths: dict[str, Sandbox] = {}
        self.runs: list[Sandbox] = []

    def create(self, framework_id: str, executor_id: str) -> Sandbox:
        """A new run of the executor: its directory, attached under its three names."""
        runs = executor_directory(self.work_dir, self.agent_id, framework_id, executor_id)
        sandbox = Sandbox(self.agent_id, framework_id, executor_id, directory="")
        sandbox.directory = f"{runs}/{sandbox.container_id}"
        self.runs.append(sandbox)
        for path in self.names(sandbox):
            self._paths[path] = sandbox
        return sandbox

    def names(self, sandbox: Sandbox) -> list[str]:
        runs = executor_directory(self.work_dir, self.agent_id, sandbox.framework_id, sandbox.executor_id)
        return [
            sandbox.directory,
            f"{runs}/latest",
            virtual_latest(sandbox.framework_id, sandbox.executor_id),
        ]

    def detach(self, sandbox: Sandbox) -> None:
        """Garbage collection: none of the sandbox's names is served any more."""
        sandbox.collected = True
        for path in self.names(sandbox):
            if self._paths.get(path) is sandbox:
                del self._paths[path]

    def latest(self, framework_id: str, executor_id: str) -> Sandbox | None:
        for sandbox in reversed(self.runs):
            if sandbox.framework_id == framework_id and sandbox.executor_id == executor_id:
                return sandbox
        return None

    def resolve(self, path: str) -> tuple[Sandbox, str] | None:
        """The sandbox ``path`` lies in and the file name within it ("" for the directory).

        ``ValueError`` for a path that climbs out of what is attached (``..``).
        """
        normalized = "/" + "/".join(part for part in path.split("/") if part not in ("", "."))
        for attached, sandbox in self._paths.items():
            if normalized == attached:
                return sandbox, ""
            if normalized.startswith(attached + "/"):
                rest = normalized[len(attached) + 1 :]
                if ".." in rest.split("/"):
                    raise ValueError(f"'{path}' is inaccessible")
                return (sandbox, rest) if "/" not in rest else None
        if ".." in path.split("/"):
            raise ValueError(f"'{path}' is inaccessible")
        return None
