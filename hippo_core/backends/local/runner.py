"""One attempt's supervisor: the process that runs a task and outlives a crash of Hippo.

The local backend starts it as ``python -I -S runner.py`` in a session of its own and
writes its orders (JSON, :func:`orders` documents them) to its standard input. From
then on it needs nothing of Hippo, so a ``hippo up`` killed with SIGKILL leaves its
tasks running and their output flowing, and the next one finds out how they ended:

1. It *claims* the attempt: writes its pid file (pid, start time, boot id) with an
   exclusive create, then gives up if the attempt was abandoned meanwhile (its exit
   file exists: a restarted backend found the attempt without a runner).
2. Docker: ``docker create`` (which pulls a missing image), then the env file is
   removed: the container has the variables, the disk no longer does.
3. It starts the command in a process group of its own (plain: ``/bin/sh -c cmd``;
   Docker: ``docker start --attach``, or ``docker attach`` to a running container it
   adopts) and copies its stdout and stderr to the attempt's files, each up to
   ``max_output_bytes`` (past it one line says the rest was dropped).
4. When the command's first process exits, whatever is left of its group is killed.
   Docker: the container's state (exit code, out of memory, engine error) is read and
   the container removed with its anonymous volumes.
5. It writes the exit file (atomically: a temporary file renamed) and exits.

Signals: SIGTERM (or SIGINT, SIGHUP) asks the command to stop: SIGTERM to its process
group, or ``docker kill --signal TERM``; a ``docker create`` under way is let finish
(killing its client may still leave the engine making the container), and the
container is removed without being started. SIGUSR1 kills it: SIGKILL, or ``docker
kill``; a ``docker create`` under way is killed too (a container the engine makes
after all is removed by the next backend's sweep).
Lines on its standard output tell the backend that started it how far it got:
``claimed``, then ``running``.

Only the standard library is used, and ``-I -S`` keeps the task's environment
(``PYTHONPATH``...) and site packages out of it: it starts in a few milliseconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from typing import Any

# How long output still arriving after the command's group was killed is copied (a
# process that left the group may hold the pipes open for ever).
DRAIN_SECONDS = 5.0
DOCKER_TIMEOUT = 60.0
CHUNK = 65536
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def orders(spec: dict[str, Any]) -> dict[str, Any]:
    """The orders, checked. Keys:

    ``cwd``, ``stdout``, ``stderr``, ``pid_file``, ``exit_file`` (paths);
    ``max_output_bytes``; ``argv`` and ``env`` of the command (Docker: of the client);
    ``docker``: ``None``, or ``{"client", "name", "create": argv or None, "env_file",
    "adopt": bool}`` (``adopt``: the container exists already, attach to it).
    ``user``: ``None``, or ``{"uid", "gid"}`` a plain command runs as (``[policy] run_as_user``).
    """
    for key in ("cwd", "stdout", "stderr", "pid_file", "exit_file", "max_output_bytes", "env"):
        if key not in spec:
            raise ValueError(f"runner orders lack {key!r}")
    return spec


class CappedFile:
    """An output file that stops growing at ``limit`` bytes, saying so once."""

    def __init__(self, path: str, name: str, limit: int) -> None:
        # Only Hippo's user may read it: a task's output may hold secrets. No symlink followed.
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        self.size = os.fstat(self.fd).st_size
        self.name = name
        self.limit = limit
        self.dropped = 0

    def write(self, data: bytes) -> None:
        room = self.limit - self.size
        if room > 0:
            kept = data[:room]
            os.write(self.fd, kept)
            self.size += len(kept)
            data = data[room:]
        if data:
            if not self.dropped:
                os.write(
                    self.fd,
                    f"\n[hippo: {self.name} reached its limit of {self.limit} bytes "
                    "([local] max_output_bytes); the rest is not kept]\n".encode(),
                )
            self.dropped += len(data)

    def close(self) -> None:
        os.close(self.fd)


class Tail:
    """The last few KiB of a stream, kept in memory (``docker create``'s error)."""

    def __init__(self, copy_to: CappedFile | None = None, keep: int = 4096) -> None:
        self.data = b""
        self.copy_to = copy_to
        self.keep = keep

    def write(self, data: bytes) -> None:
        self.data = (self.data + data)[-self.keep :]
        if self.copy_to is not None:
            self.copy_to.write(data)

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace").strip()


def proc_start_time(pid: int | str = "self") -> int | None:
    """Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return None


def write_json(path: str, data: dict[str, Any], exclusive: bool = False) -> bool:
    """Write ``path`` whole or not at all; ``exclusive``: only if it does not exist (False if it does)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    try:
        if exclusive:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        else:
            os.replace(tmp, path)
            tmp = ""
    finally:
        if tmp:
            os.unlink(tmp)
    return True


class Runner:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.docker: dict[str, Any] | None = spec.get("docker")
        self.limit = int(spec["max_output_bytes"])
        self.stop_asked = False
        self.kill_asked = False
        self._signals: list[int] = []
        self._group: int | None = None
        self._wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        os.set_blocking(self._wake_r, False)
        signal.set_wakeup_fd(wake_w)
        for signum in (*STOP_SIGNALS, signal.SIGUSR1, signal.SIGCHLD):
            signal.signal(signum, self._on_signal)
        self.identity = {"pid": os.getpid(), "start_time": proc_start_time(), "boot_id": boot_id()}

    def _on_signal(self, signum: int, frame: object) -> None:
        if signum != signal.SIGCHLD:
            self._signals.append(signum)

    # -- the protocol with the backend ------------------------------------------------------

    def tell(self, line: str) -> None:
        with contextlib.suppress(OSError):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def claim(self) -> bool:
        """Write the pid file (only if there is none); False if the attempt is abandoned or taken."""
        record = {**self.identity, "claimed_at": time.time(), "running_at": None, "group": None}
        if not write_json(self.spec["pid_file"], record, exclusive=True):
            return False
        return not os.path.exists(self.spec["exit_file"])

    def running(self, group: int | None) -> None:
        record = {**self.identity, "claimed_at": time.time(), "running_at": time.time(), "group": group}
        write_json(self.spec["pid_file"], record)
        self.tell("running")

    def finish(self, stage: str, **facts: Any) -> None:
        ending = {
            "stage": stage,
            "code": None,
            "error": None,
            "oom": False,
            "stop_asked": self.stop_asked,
            "kill_asked": self.kill_asked,
            "ended_at": time.time(),
            **facts,
        }
        write_json(self.spec["exit_file"], ending)

    # -- running a step ---------------------------------------------------------------------

    def supervise(
        self, argv: list[str], sinks: tuple[Any, Any], main: bool, user: dict[str, int] | None = None
    ) -> int:
        """Run ``argv`` in its own process group (as ``user``'s uid and gid when given), its
        output to ``sinks``; its exit code (negative: the signal that killed it). ``OSError``
        if it cannot be started."""
        proc = subprocess.Popen(
            argv,
            cwd=self.spec["cwd"],
            env=self.spec["env"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            process_group=0,
            close_fds=True,
            user=user["uid"] if user else None,
            group=user["gid"] if user else None,
            extra_groups=[] if user else None,
        )
        self._group = proc.pid
        assert proc.stdout is not None and proc.stderr is not None
        streams = {proc.stdout.fileno(): sinks[0], proc.stderr.fileno(): sinks[1]}
        if main:
            self.running(proc.pid)
        poller = select.poll()
        for fd in (*streams, self._wake_r):
            poller.register(fd, select.POLLIN)
        exited_at: float | None = None
        while streams or exited_at is None:
            if exited_at is None and self._exited(proc):
                exited_at = time.monotonic()
                # What the command left running in its group goes with it, as a
                # container's processes end with the container; the pipes then close.
                self._signal_group(signal.SIGKILL)
            elif exited_at is None:
                self._act_on_signals()
            if exited_at is not None and time.monotonic() - exited_at > DRAIN_SECONDS:
                break
            for fd, _ in poller.poll(200 if exited_at is not None else 1000):
                if fd == self._wake_r:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self._wake_r, 512):
                            pass
                    continue
                data = os.read(fd, CHUNK)
                if data:
                    streams[fd].write(data)
                else:
                    poller.unregister(fd)
                    del streams[fd]
        proc.stdout.close()
        proc.stderr.close()
        code = proc.wait()
        self._group = None
        return code

    def _exited(self, proc: subprocess.Popen[bytes]) -> bool:
        """Whether the step's first process has exited, leaving it unreaped: its group
        id cannot be handed to anyone else before the leftovers are killed."""
        if not hasattr(os, "waitid"):
            return proc.poll() is not None
        try:
            return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None
        except ChildProcessError:
            return True

    def _signal_group(self, signum: int) -> None:
        if self._group is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._group, signum)

    def _act_on_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            if signum == signal.SIGUSR1:
                self.kill_asked = True
                if self.docker is not None:
                    self.docker_call("kill", self.docker["name"])
                self._signal_group(signal.SIGKILL)
            else:
                self.stop_asked = True
                if self.docker is None:
                    self._signal_group(signal.SIGTERM)
                elif self.docker.get("started"):
                    self.docker_call("kill", "--signal", "TERM", self.docker["name"])
                # A `docker create` under way is left to finish (a killed client may still
                # leave the engine making the container); the container is removed after it.

    # -- docker -----------------------------------------------------------------------------

    def docker_call(self, *args: str) -> subprocess.CompletedProcess[bytes] | None:
        assert self.docker is not None
        try:
            return subprocess.run(
                [self.docker["client"], *args],
                env=self.spec["env"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=DOCKER_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            print(f"docker {' '.join(args)} failed: {exc}", file=sys.stderr, flush=True)
            return None

    def container_state(self) -> dict[str, Any] | None:
        assert self.docker is not None
        result = self.docker_call(
            "inspect", "--type", "container", "--format", "{{json .State}}", self.docker["name"]
        )
        if result is None or result.returncode != 0:
            return None
        try:
            state = json.loads(result.stdout)
        except ValueError:
            return None
        return state if isinstance(state, dict) else None

    def remove_container(self) -> None:
        assert self.docker is not None
        result = self.docker_call("rm", "--force", "--volumes", self.docker["name"])
        if result is not None and result.returncode != 0:
            error = result.stderr.decode(errors="replace")
            if "No such container" not in error:
                print(f"could not remove container {self.docker['name']}: {error.strip()}", file=sys.stderr)

    def remove_env_file(self) -> None:
        assert self.docker is not None
        if self.docker.get("env_file"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.docker["env_file"])

    # -- the whole attempt ------------------------------------------------------------------

    def run(self) -> None:
        out = CappedFile(self.spec["stdout"], "stdout", self.limit)
        err = CappedFile(self.spec["stderr"], "stderr", self.limit)
        try:
            if self.docker is None:
                self.run_plain(out, err)
            else:
                self.run_docker(out, err)
        finally:
            out.close()
            err.close()

    def run_plain(self, out: CappedFile, err: CappedFile) -> None:
        try:
            code = self.supervise(self.spec["argv"], (out, err), main=True, user=self.spec.get("user"))
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            self.finish("spawn", error=f"could not start {self.spec['argv'][0]}: {exc}")
            return
        self.finish("run", code=code, dropped=out.dropped + err.dropped)

    def run_docker(self, out: CappedFile, err: CappedFile) -> None:
        docker = self.docker
        assert docker is not None
        if not docker.get("adopt"):
            tail = Tail(copy_to=err)
            try:
                code = self.supervise(docker["create"], (Tail(), tail), main=False)
            except (OSError, ValueError, subprocess.SubprocessError) as exc:
                self.finish("spawn", error=f"could not start {docker['client']}: {exc}")
                return
            finally:
                # The container has the variables now (or never will): the disk no longer does.
                self.remove_env_file()
            self._act_on_signals()
            if code != 0 or self.stop_asked or self.kill_asked:
                self.remove_container()
                self.finish("create", code=code, error=tail.text() or None)
                return
            argv = [docker["client"], "start", "--attach", docker["name"]]
        else:
            self.remove_env_file()
            state = self.container_state()
            if state is None:
                self.finish("adopt", error=f"container {docker['name']} is gone")
                return
            if state.get("Status") == "created":
                # Created, never started (its runner died in between): it has not run yet.
                argv = [docker["client"], "start", "--attach", docker["name"]]
            elif not state.get("Running"):
                self.collect(state, None, out, err)
                return
            else:
                argv = [docker["client"], "attach", "--no-stdin", "--sig-proxy=false", docker["name"]]
        docker["started"] = True
        try:
            code = self.supervise(argv, (out, err), main=True)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            self.remove_container()
            self.finish("spawn", error=f"could not start {docker['client']}: {exc}")
            return
        self.collect(self.container_state(), code, out, err)

    def collect(
        self, state: dict[str, Any] | None, client_code: int | None, out: CappedFile, err: CappedFile
    ) -> None:
        """The container's ending, then the container is removed."""
        dropped = out.dropped + err.dropped
        if state is None:
            self.finish(
                "run",
                code=client_code,
                error="the container was removed before its state could be read",
                dropped=dropped,
            )
            return
        self.remove_container()
        if state.get("Error"):
            self.finish("start", code=state.get("ExitCode"), error=state["Error"], dropped=dropped)
            return
        self.finish("run", code=state.get("ExitCode"), oom=bool(state.get("OOMKilled")), dropped=dropped)


def main() -> int:
    spec = orders(json.load(sys.stdin))
    sys.stdin.close()
    runner = Runner(spec)
    if not runner.claim():
        runner.tell("abandoned")
        return 0
    runner.tell("claimed")
    runner.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
