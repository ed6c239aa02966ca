"""``LocalBackend``: this machine as Hippo's one agent, each task a local process or container.

See the package docstring (``hippo_core.backends.local``) for what a task sees and how
it ends. Threads: one *event thread* calls the :class:`SchedulerCallbacks` (registered,
offers, status updates: one event at a time, updates in the order they happened);
each task has a thread that starts its process and waits for it.
"""

from __future__ import annotations

import collections
import logging
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hippo_core.backend import (
    AttemptLogs,
    Backend,
    BackendError,
    SchedulerCallbacks,
    TaskLaunch,
    TaskStatus,
)
from hippo_core.backends.local import docker as docker_cli
from hippo_core.backends.local import machine
from hippo_core.backends.local.endings import (
    AGENT,
    EXECUTOR,
    KILLED_BEFORE_START,
    MASTER,
    Ending,
    exited,
    launch_failed,
)
from hippo_core.backends.local.logs import LogStore
from hippo_core.backends.local.offers import EPSILON, OfferBook
from hippo_core.backends.local.process import TaskProcess, plain_command
from hippo_core.backends.local.settings import LocalSettings
from hippo_core.backoff import Backoff
from hippo_core.config import Config
from hippo_core.errors import FieldError
from hippo_core.policy import PolicySettings, RunAs, run_as
from hippo_core.taskstate import MesosState

log = logging.getLogger(__name__)

MAX_RETRY_SECONDS = 10.0


@dataclass
class _Task:
    launch: TaskLaunch
    last: TaskStatus
    process: TaskProcess | None = None
    kill_requested: bool = False
    thread: threading.Thread | None = None
    escalation: threading.Timer | None = None

    @property
    def ended(self) -> bool:
        return self.last.terminal


class LocalBackend(Backend):
    """Offers this machine's free cpus and mem; runs each launch with ``docker run`` or ``/bin/sh -c``.

    ``docker``: ``None`` asks the engine once at ``start`` (``docker version``);
    ``True``/``False`` decide without asking. ``offer_interval``: how often free
    resources are offered again while nobody accepts or declines them.
    ``kill_grace_seconds``: between SIGTERM and SIGKILL when killing a task.
    """

    name = "local"
    settings = LocalSettings

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        cpus: float | None = None,
        mem: float | None = None,
        *,
        docker: bool | None = None,
        shell: str = "/bin/sh",
        hostname: str | None = None,
        offer_interval: float = 0.5,
        kill_grace_seconds: float = 5.0,
        retry_seconds: float = 1.0,
        keep_ended: int = 10000,
        run_as_user: str = "",
    ) -> None:
        self.logs = LogStore(data_dir)
        # [policy] run_as_user: plain-process tasks run as that user when Hippo is root.
        self.run_as_user = run_as_user
        self.cpus = float(cpus) if cpus is not None else machine.cpu_count()
        self.mem = float(mem) if mem is not None else machine.memory_mb()
        if self.cpus <= 0 or self.mem <= 0:
            raise ValueError(f"the local backend needs cpus and mem above 0, got {self.cpus} and {self.mem}")
        self.docker = docker
        self.shell = shell
        self.hostname = hostname or machine.hostname()
        self.agent_id = machine.agent_id(self.hostname)
        self.kill_grace_seconds = kill_grace_seconds
        self.retry_seconds = retry_seconds
        self.keep_ended = keep_ended

        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._callbacks: SchedulerCallbacks | None = None
        self._framework_id: str | None = None
        self._registered = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._outbox: collections.deque[TaskStatus] = collections.deque()
        self._retry_at = 0.0
        self._retry = Backoff(retry_seconds, max(retry_seconds, MAX_RETRY_SECONDS))
        self._tasks: dict[str, _Task] = {}
        self._ended: collections.deque[str] = collections.deque()
        self._book = OfferBook(self.agent_id, self.hostname, self.cpus, self.mem, offer_interval)

    @classmethod
    def from_config(cls, config: Config) -> LocalBackend:
        """The backend for Hippo's settings: ``data_dir`` and the ``[local]`` table."""
        settings = config.section(LocalSettings)
        run_as_user = config.section(PolicySettings).run_as_user
        return cls(config.data_dir, cpus=settings.cpus, mem=settings.mem, run_as_user=run_as_user)

    def validate(self, definition: Mapping[str, Any]) -> list[FieldError]:
        """Refuse a family id this backend could keep no files for (``a..b``): it could never run."""
        family = definition.get("id")
        if isinstance(family, str) and family:
            try:
                self.logs.sandbox(f"{family}.{uuid.UUID(int=0)}")
            except ValueError:
                return [
                    FieldError(
                        "$.id",
                        "the local backend keeps each attempt's files in a directory named after it, "
                        "which this id cannot name (no '..', no leading '.' or '-')",
                    )
                ]
        return []

    # -- what the API asks outside a term ---------------------------------------------------

    def has_logs(self, attempt_id: str, agent_id: str | None) -> bool:
        return self.logs.has_logs(attempt_id)

    def read_logs(self, attempt_id: str, agent_id: str | None, tail: int | None = None) -> AttemptLogs | None:
        return self.logs.read(attempt_id, tail=tail)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, callbacks: SchedulerCallbacks, framework_id: str | None) -> None:
        with self._lock:
            if self._thread is not None:
                raise BackendError("the local backend is already started")
            self._callbacks = callbacks
            self._framework_id = framework_id or f"local-{uuid.uuid4()}"
        self._thread = threading.Thread(target=self._events, name="hippo-local-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop delivering events and kill every running task (SIGTERM, SIGKILL after the grace).

        Unlike Mesos nothing keeps a task running once its backend is gone, so none is
        left behind: after a restart reconciliation answers TASK_LOST for them.
        """
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            running = [t for t in self._tasks.values() if not t.ended]
            for task in running:
                task.kill_requested = True
            self._cond.notify_all()
        for task in running:
            if task.process is not None:
                task.process.terminate()
        deadline = time.monotonic() + self.kill_grace_seconds
        for task in running:
            if task.thread is not None:
                task.thread.join(max(0.0, deadline - time.monotonic()))
        for task in running:
            if task.thread is not None and task.thread.is_alive():
                if task.process is not None:
                    task.process.force_kill()
                task.thread.join(10.0)
                if task.thread.is_alive():
                    log.error("task %s did not end after SIGKILL", task.launch.task_id)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10.0)
        with self._lock:
            undelivered = len(self._outbox)
            self._outbox.clear()
        if running or undelivered:
            log.info(
                "local backend stopped: killed %d running task(s); %d update(s) left for reconciliation",
                len(running),
                undelivered,
            )

    # -- offers -----------------------------------------------------------------------------

    def accept(self, offer_ids: list[str], launches: list[TaskLaunch], refuse_seconds: float) -> None:
        if not launches:
            self.decline(offer_ids, refuse_seconds)
            return
        with self._lock:
            if self._stopping:
                raise BackendError("the local backend is stopping")
            offer = self._book.outstanding
            if offer is None or list(offer_ids) != [offer.id]:
                raise BackendError(f"offer(s) {', '.join(offer_ids)} no longer valid")
            cpus = sum(launch.cpus for launch in launches)
            mem = sum(launch.mem for launch in launches)
            if cpus > offer.cpus + EPSILON or mem > offer.mem + EPSILON:
                raise BackendError(
                    f"launches need {cpus:g} cpus and {mem:g} MB but offer {offer.id} has "
                    f"{offer.cpus:g} cpus and {offer.mem:g} MB"
                )
            for launch in launches:
                known = self._tasks.get(launch.task_id)
                if known is not None and not known.ended:
                    raise BackendError(f"task {launch.task_id} is already running here")
            self._book.answer(offer_ids)
            tasks = []
            for launch in launches:
                status = self._status(launch.task_id, MesosState.TASK_STAGING, source=AGENT)
                task = _Task(launch, status)
                task.thread = threading.Thread(
                    target=self._run_task, args=(task,), daemon=True, name=f"hippo-task-{launch.task_id[:40]}"
                )
                self._tasks[launch.task_id] = task
                self._book.take(launch.cpus, launch.mem)
                tasks.append(task)
            self._book.refuse(refuse_seconds, time.monotonic())
            self._cond.notify_all()
        for task in tasks:
            assert task.thread is not None
            task.thread.start()

    def decline(self, offer_ids: list[str], refuse_seconds: float) -> None:
        with self._lock:
            if self._book.answer(offer_ids) is not None:
                self._book.refuse(refuse_seconds, time.monotonic())
            self._cond.notify_all()

    def suppress(self) -> None:
        with self._lock:
            self._book.suppress()

    def revive(self) -> None:
        with self._lock:
            self._book.revive()
            self._cond.notify_all()

    # -- kills and reconciliation -----------------------------------------------------------

    def kill(self, task_id: str, agent_id: str | None) -> None:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                self._send(self._lost(task_id, "kill of a task the local backend does not know"))
                return
            if task.ended:
                self._send(self._replay(task.last))  # the kill's answer: how it ended
                return
            task.kill_requested = True
        self._begin_kill(task)

    def _begin_kill(self, task: _Task) -> None:
        process = task.process
        if process is None:
            return  # not started yet: its thread sees kill_requested and never starts it
        process.terminate()
        with self._lock:
            if task.escalation is None and not task.ended:
                task.escalation = threading.Timer(self.kill_grace_seconds, process.force_kill)
                task.escalation.daemon = True
                task.escalation.start()

    def reconcile(self, tasks: list[tuple[str, str | None]]) -> None:
        with self._lock:
            if not tasks:
                for task in self._tasks.values():
                    if not task.ended:
                        self._send(self._replay(task.last))
                return
            for task_id, agent_id in tasks:
                known = self._tasks.get(task_id)
                if known is None or agent_id not in (None, self.agent_id):
                    self._send(self._lost(task_id, "reconciliation"))
                else:
                    self._send(self._replay(known.last))

    def _lost(self, task_id: str, asked: str) -> TaskStatus:
        return self._status(
            task_id,
            MesosState.TASK_LOST,
            reason="REASON_RECONCILIATION",
            source=MASTER,
            message=f"{asked}: the local backend on {self.hostname} has no record of this task; it "
            "ran under an earlier backend (a restarted `hippo up` or worker), which killed it on stopping",
        )

    def _replay(self, status: TaskStatus) -> TaskStatus:
        return TaskStatus(
            status.task_id,
            status.state,
            self.agent_id,
            self.hostname,
            "REASON_RECONCILIATION",
            status.message,
            MASTER,
            time.time(),
        )

    # -- running one task -------------------------------------------------------------------

    def _run_task(self, task: _Task) -> None:
        launch = task.launch
        warning = None
        run = None
        user = None
        try:
            sandbox = self.logs.create(launch.task_id)
        except (OSError, ValueError) as exc:
            self._finish(
                task, launch_failed(f"could not create the task's directory under {self.logs.root}: {exc}")
            )
            return
        try:
            if self.docker:
                # The client gets Hippo's environment, the task's variables an env file:
                # the task's PATH or DOCKER_HOST must not reconfigure docker itself.
                run = docker_cli.docker_run(launch, sandbox / docker_cli.ENV_FILE)
                run.write_env_file()
                argv, env, name = run.argv, run.client_env(os.environ), launch.task_id
            else:
                argv, env, warning = plain_command(launch, self.shell)
                name = None
                self.logs.write_warning(launch.task_id, warning)
                user = self._run_as(sandbox, env)
        except (OSError, ValueError, LookupError) as exc:
            self._remove_env_file(launch.task_id, run)
            self._finish(task, launch_failed(f"could not prepare the task: {exc}"))
            return
        try:
            ending = self._start_and_wait(task, argv, env, sandbox, name, warning, user)
        finally:
            self._remove_env_file(launch.task_id, run)
        self._finish(task, ending)

    def _start_and_wait(
        self,
        task: _Task,
        argv: list[str],
        env: dict[str, str],
        sandbox: Path,
        name: str | None,
        warning: str | None,
        user: RunAs | None = None,
    ) -> Ending:
        """Start the task's process unless it was killed meanwhile, and wait for it: how it ended."""
        with self._lock:
            if task.kill_requested:
                return KILLED_BEFORE_START
            self._update(task, MesosState.TASK_STARTING, message=warning)
        try:
            process = TaskProcess.spawn(argv, env, sandbox, docker_name=name, user=user)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            return launch_failed(f"could not start {argv[0]}: {exc}")
        with self._lock:
            task.process = process
            self._update(task, MesosState.TASK_RUNNING, message=warning)
            kill_now = task.kill_requested
        if kill_now:
            self._begin_kill(task)
        code = process.wait()
        with self._lock:
            escalation = task.escalation
        if escalation is not None:
            escalation.cancel()
        return exited(code, task.kill_requested, bool(self.docker))

    def _run_as(self, sandbox: Path, env: dict[str, str]) -> RunAs | None:
        """The user a plain-process task runs as (``[policy] run_as_user`` when Hippo is root),
        given its directory and its own HOME and USER; ``None``: as Hippo."""
        user = run_as(PolicySettings(run_as_user=self.run_as_user))
        if user is not None:
            os.chown(sandbox, user.uid, user.gid)
            env.update(HOME=str(sandbox), USER=user.name, LOGNAME=user.name)
        return user

    def _remove_env_file(self, task_id: str, run: docker_cli.DockerRun | None) -> None:
        """The task's variables stay on disk no longer than docker needs them."""
        if run is None:
            return
        try:
            run.remove_env_file()
        except OSError as exc:
            log.warning(
                "could not remove %s, which holds task %s's environment: %s", run.env_file, task_id, exc
            )

    def _finish(self, task: _Task, ending: Ending) -> None:
        with self._lock:
            self._end(task, ending)

    def _end(self, task: _Task, ending: Ending) -> None:
        """Record how the task ended and free its resources (the lock is held)."""
        self._update(task, ending.state, ending.reason, ending.message, ending.source)
        self._book.give_back(task.launch.cpus, task.launch.mem)
        self._ended.append(task.launch.task_id)
        while len(self._ended) > self.keep_ended:
            old = self._ended.popleft()
            if old in self._tasks and self._tasks[old].ended:
                del self._tasks[old]
        self._cond.notify_all()

    # -- status updates ---------------------------------------------------------------------

    def _status(
        self,
        task_id: str,
        state: str,
        reason: str | None = None,
        message: str | None = None,
        source: str = EXECUTOR,
    ) -> TaskStatus:
        return TaskStatus(task_id, state, self.agent_id, self.hostname, reason, message, source, time.time())

    def _update(
        self,
        task: _Task,
        state: str,
        reason: str | None = None,
        message: str | None = None,
        source: str = EXECUTOR,
    ) -> None:
        """The task is now ``state``: remember it and queue the update (the lock is held)."""
        task.last = self._status(task.launch.task_id, state, reason, message, source)
        self._send(task.last)

    def _send(self, status: TaskStatus) -> None:
        if not self._stopping:
            self._outbox.append(status)
            self._cond.notify_all()

    # -- the event thread -------------------------------------------------------------------

    def _events(self) -> None:
        callbacks = self._callbacks
        assert callbacks is not None
        # Asked here, not in start(): an engine that hangs must not hold up the worker. No
        # task can be launched before the first offer, which comes after this.
        if self.docker is None:
            self.docker = docker_cli.engine_answers()
        if not self.docker:
            log.warning(
                "no Docker engine answers on %s: tasks run as plain processes (%s -c) and "
                "their images are not used",
                self.hostname,
                self.shell,
            )
        log.info(
            "local backend on %s: %g cpus, %.0f MB, task files in %s",
            self.hostname,
            self.cpus,
            self.mem,
            self.logs.root,
        )
        while True:
            with self._lock:
                event, wait = self._next_event(time.monotonic())
                if event is None:
                    if self._stopping:
                        return
                    self._cond.wait(min(wait, 60.0))
                    continue
            kind, payload = event
            try:
                if kind == "registered":
                    callbacks.registered(payload)
                elif kind == "update":
                    callbacks.status_update(payload)
                else:
                    callbacks.offers([payload])
            except Exception as exc:
                self._failed(kind, payload, exc)
                continue
            with self._lock:
                self._retry.reset()
                unanswered = kind == "offer" and self._book.withdraw(payload, time.monotonic())
                if kind == "registered":
                    self._registered = True
                elif kind == "update" and self._outbox and self._outbox[0] is payload:
                    self._outbox.popleft()
            if unanswered:
                # Hippo answers offers inside the callback; one left open is taken back and
                # offered again later, so resources are never held by an offer nobody sees.
                self._call(callbacks.rescinded, payload.id)

    def _call(self, callback: Any, *args: Any) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("%s callback failed", getattr(callback, "__name__", callback))

    def _next_event(self, now: float) -> tuple[tuple[str, Any] | None, float]:
        if self._stopping:
            return None, 0.0
        if not self._registered or self._outbox:
            if now < self._retry_at:
                return None, self._retry_at - now
            if not self._registered:
                return ("registered", self._framework_id), 0.0
            return ("update", self._outbox[0]), 0.0
        offer, wait = self._book.next_offer(now)
        return (("offer", offer), 0.0) if offer is not None else (None, wait)

    def _failed(self, kind: str, payload: Any, exc: Exception) -> None:
        with self._lock:
            delay = self._retry.next()
            if kind == "offer":
                self._book.withdraw(payload, time.monotonic())
            else:
                # Kept at the head of the outbox: delivered again, before anything newer.
                self._retry_at = time.monotonic() + delay
        what = f"{payload.task_id} {payload.state}" if kind == "update" else kind
        log.warning(
            "%s callback failed (%s: %s); %s",
            what,
            type(exc).__name__,
            exc,
            "offering again later" if kind == "offer" else f"delivering it again in {delay:.2g}s",
        )
