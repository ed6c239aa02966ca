"""``hippo up`` as a user runs it: a subprocess in a temporary home, driven over real HTTP.

:class:`UpStarter` starts ``hippo up`` in a session of its own (as a terminal runs a
command), with ``HOME`` and ``HIPPO_DATA_DIR`` under a temporary directory and no
``HIPPO_*`` variable of the caller's. Unless a test passes ``DOCKER_HOST``, it points
at a socket nothing listens on, so tasks run as plain processes whatever engine the
machine has. After the test everything is stopped: each ``hippo up`` (SIGTERM, then
SIGKILL), the runners of tasks a killed one left behind, and its Redis.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from hippo_core.ports import free_port

WAIT = 60.0


@dataclass
class Up:
    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def auth(self) -> dict[str, str]:
        """The admin token ``hippo up`` made in its data directory, as a request header."""
        token = (self.data_dir / "admin-token").read_text().strip()
        return {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params: Any) -> Any:
        resp = requests.get(f"{self.url}{path}", params=params, headers=self.auth, timeout=10)
        assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        resp = requests.post(f"{self.url}{path}", json=body, headers=self.auth, timeout=10)
        assert resp.status_code == 201, f"POST {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def wait_task(self, ident: str, states: tuple[str, ...], timeout: float = WAIT) -> dict[str, Any]:
        return wait_for(
            f"task {ident} in {states}",
            lambda: task if (task := self.get(f"/tasks/{ident}/"))["state"] in states else None,
            self,
            timeout,
        )

    def ctrl_c(self, timeout: float = WAIT) -> int:
        """What a terminal does on Ctrl-C: SIGINT to the foreground process group."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"hippo up did not stop on Ctrl-C:\n{self.log()}") from None

    def kill_9(self) -> None:
        """SIGKILL to ``hippo up`` alone, as a crash or the OOM killer would: no chance to clean up."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(WAIT)

    def ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False


def wait_for(what: str, check: Callable[[], Any], up: Up | None = None, timeout: float = WAIT) -> Any:
    """``check()``'s first true result; fails after ``timeout`` or if ``hippo up`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        if up is not None and up.process.poll() is not None:
            raise AssertionError(f"hippo up exited ({up.process.returncode}) waiting for {what}:\n{up.log()}")
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            tail = up.log()[-5000:] if up is not None else ""
            raise AssertionError(f"timed out waiting for {what}:\n{tail}")
        time.sleep(0.1)


class UpStarter:
    """Starts ``hippo up`` processes for one test, and stops whatever they leave."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[Up] = []

    def start(
        self,
        data_dir: Path | None = None,
        wait: bool = True,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> Up:
        port = port or free_port()
        data_dir = data_dir or self.tmp_path / "home" / ".hippo"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("HIPPO_", "DOCKER_"))}
        full_env.update(
            HOME=str(self.tmp_path / "home"),
            HIPPO_DATA_DIR=str(data_dir),
            PYTHONUNBUFFERED="1",
            DOCKER_HOST=f"unix://{self.tmp_path}/no-docker-engine.sock",
        )
        full_env.update(env or {})
        log_path = self.tmp_path / f"hippo-up-{port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "hippo_core.cli", "up", "--port", str(port)],
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        up = Up(process, f"http://127.0.0.1:{port}", data_dir, log_path)
        self.started.append(up)
        if wait:
            wait_for("hippo up to answer", up.ready, up)
        return up

    def stop_all(self) -> None:
        for up in self.started:
            if up.process.poll() is None:
                os.killpg(up.process.pid, signal.SIGTERM)
                try:
                    up.process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(up.process.pid, signal.SIGKILL)
                    up.process.wait()
        for data_dir in {up.data_dir for up in self.started}:
            stop_leftover_runners(data_dir)
            for pid in redis_servers_in(data_dir / "redis"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)


def runner_pids(data_dir: Path) -> list[int]:
    """Live runners of the attempts recorded under ``data_dir`` (a killed ``hippo up`` leaves them)."""
    pids = []
    for path in (data_dir / "local" / "attempts").glob("*.pid"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            record = json.loads(path.read_text())
            stat = Path(f"/proc/{record['pid']}/stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[19]) == record.get("start_time"):
                pids.append(int(record["pid"]))
    return alive(pids)


def stop_leftover_runners(data_dir: Path, grace: float = 10.0) -> None:
    """Kill the tasks of runners left under ``data_dir`` (SIGUSR1: they kill theirs and end)."""
    pids = runner_pids(data_dir)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGUSR1)
    for pid in left_alive(pids, grace):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _proc_stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) of a live process, or None when it is gone (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[1]), fields[0]) if fields[0] != "Z" else None


def descendants(pid: int) -> dict[int, str]:
    """Every live process below ``pid``, with its command line."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append(int(entry.name))
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                found[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            todo.append(child)
    return found


def alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if _proc_stat(pid) is not None]


def left_alive(pids: list[int], grace: float = 10.0) -> list[int]:
    """Which of ``pids`` still live after ``grace`` seconds to die (SIGKILL is not instant)."""
    deadline = time.monotonic() + grace
    while (living := alive(pids)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return living


def redis_servers_in(redis_dir: Path) -> list[int]:
    """Live redis-server processes working in ``redis_dir``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and b"redis-server" in (entry / "cmdline").read_bytes()
                and Path(os.readlink(entry / "cwd")) == redis_dir.resolve()
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return alive(found)
