"""An attempt's runner process, seen from the backend: started here, or adopted after a restart.

The runner (:mod:`.runner`) runs in a session of its own, so neither a Ctrl-C in the
terminal nor the death of Hippo reaches it. The backend signals it (SIGTERM: stop the
task; SIGUSR1: kill it) through a *pidfd* where Linux has them, which names exactly
that process: a pid the kernel has since handed to another process is never
signalled. An adopted runner (not a child of this process) is recognised by its pid,
start time and boot id, and watched through the same pidfd.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from hippo_core.backend import TaskLaunch
from hippo_core.backends.local.runner import boot_id, proc_start_time

log = logging.getLogger(__name__)

RUNNER = Path(__file__).with_name("runner.py")
# Without pidfds (not Linux), how often an adopted runner is looked at.
POLL_SECONDS = 0.5

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


def identity_matches(pid: int, start_time: int | None, boot: str | None) -> bool:
    """Whether ``pid`` is still the process that recorded this start time and boot id."""
    if boot is not None and boot != boot_id():
        return False  # the machine restarted: every process of then is gone
    if start_time is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return proc_start_time(pid) == start_time


def _pidfd(pid: int) -> int | None:
    if not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        raise
    except OSError:
        return None  # an older kernel: fall back to polling


class RunnerProcess:
    """A runner: a child of this process (``popen``), or adopted from its pid file."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None, pidfd: int | None) -> None:
        self.pid = pid
        self.popen = popen
        self._pidfd = pidfd
        self._identity: tuple[int | None, str | None] = (proc_start_time(pid), boot_id())
        self._lock = threading.Lock()
        self._exited = False

    @classmethod
    def spawn(cls, orders: Mapping[str, Any], log_path: Path, python: str = sys.executable) -> RunnerProcess:
        """Start a runner with ``orders`` (``OSError`` if it cannot be started)."""
        with open(log_path, "ab") as runner_log:
            popen = subprocess.Popen(
                [python, "-I", "-S", str(RUNNER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=runner_log,
                start_new_session=True,
                close_fds=True,
                cwd="/",
                env={"PATH": os.environ.get("PATH", os.defpath)},
            )
        # Opened before anything could reap it: the pidfd is this very process.
        pidfd = _pidfd(popen.pid)
        runner = cls(popen.pid, popen, pidfd)
        assert popen.stdin is not None
        try:
            popen.stdin.write(json.dumps(dict(orders)).encode())
            popen.stdin.close()
        except OSError:
            # It died at once; how is for the caller to find out (no exit file, its log).
            with contextlib.suppress(OSError):
                popen.stdin.close()
        return runner

    @classmethod
    def adopt(cls, pid_file: Mapping[str, Any]) -> RunnerProcess | None:
        """The runner a pid file names, if that very process still runs; else ``None``."""
        pid = int(pid_file["pid"])
        start_time, boot = pid_file.get("start_time"), pid_file.get("boot_id")
        if not identity_matches(pid, start_time, boot):
            return None
        try:
            pidfd = _pidfd(pid)
        except ProcessLookupError:
            return None
        # Checked again now that the pidfd is open: it cannot have changed hands since.
        if not identity_matches(pid, start_time, boot) or _is_zombie(pid):
            if pidfd is not None:
                os.close(pidfd)
            return None
        runner = cls(pid, None, pidfd)
        runner._identity = (start_time, boot)
        return runner

    def progress(self) -> Iterator[str]:
        """What a runner started here says (``claimed``, ``running``) until it ends; nothing
        for an adopted one."""
        stdout: IO[bytes] | None = self.popen.stdout if self.popen is not None else None
        if stdout is None:
            return
        for line in stdout:
            yield line.decode(errors="replace").strip()
        stdout.close()

    def signal(self, signum: int) -> bool:
        """Send ``signum`` to the runner; ``False`` once it has exited."""
        with self._lock:
            if self._exited:
                return False
            try:
                if self._pidfd is not None:
                    signal.pidfd_send_signal(self._pidfd, signum)
                elif self.popen is not None:
                    if self.popen.poll() is not None:
                        return False
                    self.popen.send_signal(signum)
                elif identity_matches(self.pid, *self._identity):
                    os.kill(self.pid, signum)
                else:
                    return False
            except ProcessLookupError:
                return False
            return True

    def stop(self) -> None:
        """Ask the task to stop: SIGTERM to its group, or ``docker kill --signal TERM``."""
        self.signal(signal.SIGTERM)

    def force(self) -> None:
        """Kill the task now: SIGKILL, or ``docker kill``."""
        self.signal(signal.SIGUSR1)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the runner to exit (reaping it if it is a child); whether it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.popen is not None:
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            self._mark_exited()
            return True
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if self._pidfd is not None:
                ready, _, _ = select.select([self._pidfd], [], [], left)
                if ready:
                    self._mark_exited()
                    return True
                return False
            if not identity_matches(self.pid, *self._identity) or _is_zombie(self.pid):
                self._mark_exited()
                return True
            if left is not None and left <= 0:
                return False
            time.sleep(POLL_SECONDS if left is None else min(POLL_SECONDS, left))

    def _mark_exited(self) -> None:
        with self._lock:
            self._exited = True
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] in ("Z", "X")


def group_members(group: int) -> list[int]:
    """Live processes in process group ``group`` (Linux: /proc)."""
    members = []
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] not in ("Z", "X") and int(fields[2]) == group:
                members.append(int(entry.name))
    return members


def kill_leftovers(attempt_id: str, group: int) -> list[int]:
    """SIGKILL what is left of a plain attempt whose runner died: the processes of its
    group that carry its ``HIPPO_TASK_ID`` (a recycled group id finds none of them)."""
    marker = f"HIPPO_TASK_ID={attempt_id}".encode()
    killed = []
    for pid in group_members(group):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ:
            log.warning("killing process %d of task %s, whose runner died", pid, attempt_id)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    return killed


def runner_orders(
    attempt_id: str,
    sandbox: Path,
    pid_file: Path,
    exit_file: Path,
    max_output_bytes: int,
    argv: list[str],
    env: Mapping[str, str],
    docker: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The orders a runner reads (:func:`.runner.orders`) for one attempt."""
    return {
        "attempt": attempt_id,
        "cwd": str(sandbox),
        "stdout": str(sandbox / "stdout"),
        "stderr": str(sandbox / "stderr"),
        "pid_file": str(pid_file),
        "exit_file": str(exit_file),
        "max_output_bytes": max_output_bytes,
        "argv": argv,
        "env": dict(env),
        "docker": dict(docker) if docker is not None else None,
    }
