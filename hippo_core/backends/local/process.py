"""One attempt's process: started in its own session (so its own process group), stopped as a group.

The process is a shell running the task's command, or a ``docker run`` client. Its
whole process group is signalled: children the command started (``sleep 100 &``)
go with it. When the shell itself ends, whatever is left of its group is killed
too, as a container's processes end with the container.

Signals go to the group only while its leader is not yet reaped, so a process
group id the kernel has handed to someone else is never signalled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from hippo_core.backend import TaskLaunch
from hippo_core.policy import RunAs

log = logging.getLogger(__name__)

# Variables a plain process inherits from Hippo's own environment; nothing else is
# passed on, so Hippo's settings and credentials stay out of the tasks.
INHERITED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")


def plain_command(launch: TaskLaunch, shell: str = "/bin/sh") -> tuple[list[str], dict[str, str], str]:
    """argv and environment to run the task without Docker, and the warning that says so."""
    env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(launch.env)
    image = ((launch.container or {}).get("docker") or {}).get("image") or "(none)"
    warning = (
        f"image {image} was not used: no Docker engine answered on this machine, so the command "
        f"ran as a plain process ({shell} -c) with this machine's programs"
    )
    return [shell, "-c", launch.cmd], env, warning


def _private(path: Path) -> BinaryIO:
    """``path`` opened for appending, readable by Hippo's user only (a task's output may hold secrets)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600), "ab")


class TaskProcess:
    def __init__(self, popen: subprocess.Popen[bytes], docker_name: str | None = None) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.docker_name = docker_name
        self._lock = threading.Lock()
        self._reaped = False

    @classmethod
    def spawn(
        cls,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        docker_name: str | None = None,
        user: RunAs | None = None,
    ) -> TaskProcess:
        """Start ``argv`` in ``cwd`` with stdout/stderr appended to files there (mode 0600),
        as ``user`` when given.

        Raises ``OSError`` (or ``ValueError`` for an environment Unix cannot carry)
        when the process cannot be started.
        """
        with _private(cwd / "stdout") as out, _private(cwd / "stderr") as err:
            popen = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=True,
                user=user.uid if user is not None else None,
                group=user.gid if user is not None else None,
                extra_groups=[] if user is not None else None,
            )
        return cls(popen, docker_name)

    def signal(self, signum: int) -> bool:
        """Send ``signum`` to the whole group; ``False`` once the process has been reaped."""
        with self._lock:
            if self._reaped:
                return False
            try:
                os.killpg(self.pid, signum)
            except ProcessLookupError:
                return False
            return True

    def terminate(self) -> None:
        """Ask the group to stop (a ``docker run`` client passes SIGTERM on to the container)."""
        self.signal(signal.SIGTERM)

    def force_kill(self) -> None:
        """Kill the group now; a container is removed first, since SIGKILL cannot reach it."""
        if self.docker_name is not None and self.popen.poll() is None:
            self._remove_container()
        self.signal(signal.SIGKILL)

    def wait(self) -> int:
        """Wait for the leader to exit, kill what is left of its group, reap; the return code."""
        if hasattr(os, "waitid"):
            # WNOWAIT leaves the leader a zombie, which keeps its group id ours until the
            # group is cleared below.
            while True:
                try:
                    os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
                    break
                except InterruptedError:
                    continue
                except ChildProcessError:
                    break
        else:  # pragma: no cover - platforms without waitid
            self.popen.wait()
        with self._lock:
            # ESRCH: nothing but the zombie leader was left.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            code = self.popen.wait()
            self._reaped = True
        return code

    def _remove_container(self) -> None:
        if self.docker_name is None:
            return
        try:
            subprocess.run(
                ["docker", "rm", "--force", self.docker_name],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("could not remove container %s: %s", self.docker_name, exc)
