"""A recording stand-in for Hippo's side of the backend contract, and helpers to find processes.

``Recorder`` plays the scheduler and tracker (the ``SchedulerCallbacks``): it records
every event, accepts the launches a test queues for the next offer, and can be told
to fail status updates, as Hippo does when Redis is down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hippo_core.backend import BackendError, Offer, TaskLaunch, TaskStatus
from hippo_core.backends.local.backend import LocalBackend

WAIT = 30.0


class Recorder:
    def __init__(self) -> None:
        self.backend: LocalBackend | None = None
        self.framework_ids: list[str] = []
        self.offered: list[Offer] = []
        self.updates: list[TaskStatus] = []
        self.failed_updates: list[TaskStatus] = []
        self.accept_errors: list[BackendError] = []
        self.fail_updates = 0
        self.threads: set[str] = set()
        self.rescinded_ids: list[str] = []
        # Called inside the offers callback, where Hippo answers offers: respond(backend, offers).
        self.respond: Callable[[LocalBackend, list[Offer]], None] | None = None
        self._to_launch: list[TaskLaunch] = []
        self._refuse = 0.0
        self._cond = threading.Condition()

    # -- SchedulerCallbacks ---------------------------------------------------------------

    def registered(self, framework_id: str) -> None:
        with self._cond:
            self.threads.add(threading.current_thread().name)
            self.framework_ids.append(framework_id)
            self._cond.notify_all()

    def offers(self, offers: list[Offer]) -> None:
        with self._cond:
            self.threads.add(threading.current_thread().name)
            self.offered.extend(offers)
            launches, self._to_launch = self._to_launch, []
            self._cond.notify_all()
        assert self.backend is not None
        if self.respond is not None:
            self.respond(self.backend, offers)
        if launches:
            try:
                self.backend.accept([offers[0].id], launches, self._refuse)
            except BackendError as exc:
                with self._cond:
                    self.accept_errors.append(exc)
                    self._cond.notify_all()

    def rescinded(self, offer_id: str) -> None:
        with self._cond:
            self.rescinded_ids.append(offer_id)

    def status_update(self, status: TaskStatus) -> None:
        with self._cond:
            self.threads.add(threading.current_thread().name)
            if self.fail_updates > 0:
                self.fail_updates -= 1
                self.failed_updates.append(status)
                raise RuntimeError("Redis is down")
            self.updates.append(status)
            self._cond.notify_all()

    def disconnected(self, reason: str) -> None:
        pass

    def error(self, message: str) -> None:
        pass

    # -- for the tests --------------------------------------------------------------------

    def launch_on_next_offer(self, *launches: TaskLaunch, refuse_seconds: float = 0.0) -> None:
        with self._cond:
            self._to_launch.extend(launches)
            self._refuse = refuse_seconds

    def wait_for(self, what: str, predicate: Callable[[], Any], timeout: float = WAIT) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; updates: {self.updates}")
                self._cond.wait(min(left, 0.1))

    def states(self, task_id: str) -> list[str]:
        with self._cond:
            return [u.state for u in self.updates if u.task_id == task_id]

    def last(self, task_id: str) -> TaskStatus:
        with self._cond:
            return [u for u in self.updates if u.task_id == task_id][-1]

    def wait_terminal(self, task_id: str, timeout: float = WAIT) -> TaskStatus:
        self.wait_for(
            f"{task_id} to end",
            lambda: any(u.terminal for u in self.updates if u.task_id == task_id),
            timeout,
        )
        return next(u for u in self.updates if u.task_id == task_id and u.terminal)


def _make_launch(
    task_id: str,
    cmd: str,
    cpus: float = 0.1,
    mem: float = 32.0,
    env: dict[str, str] | None = None,
    **container: Any,
) -> TaskLaunch:
    return TaskLaunch(
        task_id=task_id,
        name=f"hippo:{task_id}",
        agent_id="local-test",
        cpus=cpus,
        mem=mem,
        cmd=cmd,
        env={"HIPPO_TASK_ID": task_id, **(env or {})},
        container=container or {"docker": {"image": "busybox:1.36"}},
        labels={"hippo.task": task_id},
    )


def _task_pids(task_id: str) -> list[int]:
    """Processes of this user whose environment carries ``HIPPO_TASK_ID=<task_id>``."""
    marker = f"HIPPO_TASK_ID={task_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile, or not ours
        if marker in environ.split(b"\0") and ") Z" not in stat:
            found.append(int(entry.name))
    return found


@pytest.fixture
def make_launch() -> Callable[..., TaskLaunch]:
    """``make_launch(task_id, cmd, cpus=0.1, mem=32, env=None)``: a TaskLaunch of a busybox task."""
    return _make_launch


@pytest.fixture
def task_pids() -> Callable[[str], list[int]]:
    """``task_pids(task_id)``: pids of live processes carrying the task's HIPPO_TASK_ID."""
    return _task_pids


@pytest.fixture
def pids_left() -> Callable[[str], list[int]]:
    """``pids_left(task_id)``: the task's processes still alive after up to 10 s for them to die.

    A SIGKILLed process is gone a moment after the signal, not when ``kill`` returns.
    """

    def left(task_id: str) -> list[int]:
        deadline = time.monotonic() + 10
        while (pids := _task_pids(task_id)) and time.monotonic() < deadline:
            time.sleep(0.02)
        return pids

    return left


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def start_backend(tmp_path: Path, recorder: Recorder) -> Iterator[Callable[..., LocalBackend]]:
    """``start(**options)``: a LocalBackend (plain processes, 2 cpus, 1000 MB) started on ``recorder``."""
    started: list[LocalBackend] = []

    def start(framework_id: str | None = "fw-test", **options: Any) -> LocalBackend:
        settings: dict[str, Any] = dict(
            data_dir=tmp_path / "data",
            cpus=2,
            mem=1000,
            docker=False,
            hostname="testhost",
            offer_interval=0.05,
            kill_grace_seconds=1.0,
            retry_seconds=0.05,
        )
        settings.update(options)
        backend = LocalBackend(**settings)
        recorder.backend = backend
        backend.start(recorder, framework_id)
        started.append(backend)
        return backend

    yield start
    for backend in started:
        backend.shutdown()


@pytest.fixture
def next_backend(tmp_path: Path) -> Iterator[Callable[[], tuple[LocalBackend, Recorder]]]:
    """``next_backend()``: a fresh backend and recorder on the same data directory, shut down after."""
    started: list[LocalBackend] = []

    def start() -> tuple[LocalBackend, Recorder]:
        recorder = Recorder()
        backend = LocalBackend(
            tmp_path / "data",
            cpus=2,
            mem=1000,
            docker=False,
            hostname="testhost",
            offer_interval=0.05,
            kill_grace_seconds=1.0,
            retry_seconds=0.05,
        )
        recorder.backend = backend
        backend.start(recorder, "fw-test")
        started.append(backend)
        return backend, recorder

    yield start
    for backend in started:
        backend.shutdown()
