"""Hippo processes for the observability tests: ``hippo up`` and ``hippo worker``, over real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from hippo_core.ports import free_port

WAIT = 60.0
# Every Hippo these tests start takes this admin token (hippo up insists on one).
TOKEN = "observe-tests-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _session() -> requests.Session:
    session = requests.Session()
    session.headers.update(AUTH)
    return session


@dataclass
class Process:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    http: requests.Session = field(default_factory=_session)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, **params: Any) -> Any:
        resp = self.http.get(f"{self.url}{path}", params=params, timeout=10)
        assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def post(self, path: str, body: dict[str, Any], status: int = 201) -> Any:
        resp = self.http.post(f"{self.url}{path}", json=body, timeout=10)
        assert resp.status_code == status, f"POST {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def wait(self, what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"exited ({self.process.returncode}) waiting for {what}:\n{self.log()}")
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.log()[-5000:]}")
            time.sleep(0.1)

    def wait_task(self, ident: str, states: tuple[str, ...]) -> dict[str, Any]:
        return self.wait(
            f"task {ident} in {states}",
            lambda: task if (task := self.get(f"/tasks/{ident}/"))["state"] in states else None,
        )

    def metrics(self, path: str = "/metrics") -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of ``/metrics``, parsed by prometheus-client's own parser."""
        resp = self.http.get(f"{self.url}{path}", timeout=10)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/plain")
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.text)
            for s in family.samples
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(WAIT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def sample(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The value of one sample (0 when absent)."""
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


class Starter:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[Process] = []

    def start(
        self,
        command: list[str],
        env: dict[str, str] | None = None,
        ready: str = "/readyz",
        port: int | None = None,
    ) -> Process:
        port = port or free_port()
        home = self.tmp / "home"
        child_env = {k: v for k, v in os.environ.items() if not k.startswith(("HIPPO_", "PROMETHEUS_"))}
        child_env.update(
            HOME=str(home), HIPPO_DATA_DIR=str(home / ".hippo"), PYTHONUNBUFFERED="1", HIPPO_ADMIN_TOKEN=TOKEN
        )
        child_env.update(env or {})
        log_path = self.tmp / f"{command[0]}-{port}.log"
        argv = [sys.executable, "-m", "hippo_core.cli", *command]
        argv = [a.replace("{port}", str(port)) for a in argv]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                argv, env=child_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        started = Process(process, f"http://127.0.0.1:{port}", log_path)
        self.started.append(started)
        started.wait(f"{command[0]} to answer", lambda: _answers(started.url + ready))
        return started

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()


@pytest.fixture
def hippo(tmp_path: Path) -> Iterator[Starter]:
    """``hippo.start(["up", "--port", "{port}"], env={...})``: a Hippo command, stopped after the test."""
    starter = Starter(tmp_path)
    try:
        yield starter
    finally:
        starter.stop_all()


@pytest.fixture(scope="module")
def hippo_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """One ``hippo up`` (own Redis, local backend) shared by a module's tests."""
    starter = Starter(tmp_path_factory.mktemp("hippo-up"))
    try:
        yield starter.start(
            ["up", "--port", "{port}", "--log-format", "json"],
            env={"HIPPO_EVENTS_HEARTBEAT_SECONDS": "0.5"},
        )
    finally:
        starter.stop_all()


def one_off(cmd: str, **fields: Any) -> dict[str, Any]:
    return {"cmd": cmd, "container": {"docker": {"image": "busybox:1.36"}}, **fields}
