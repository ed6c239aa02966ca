"""``LocalBackend``: this machine as Hippo's one agent, each task a local process or container.

See the package docstring (``hippo_core.backends.local``) for what a task sees and how
it ends. Threads: one *event thread* calls the :class:`SchedulerCallbacks` (registered,
offers, status updates: one event at a time, updates in the order they happened);
each task has a thread that starts its runner and waits for it.

The tasks' runners (:mod:`.runner`) outlive this object and Hippo itself, and what
each attempt is and how it ended is kept in ``<data_dir>/local`` (:mod:`.attempts`).
A backend that starts *adopts* every recorded attempt: one still running is watched
until it ends, one that ended while nobody watched reports how, one that never
started is lost. ``stop`` (a term ending) leaves the tasks running for the next
backend; ``shutdown`` (Hippo stopping) kills them and records why.
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
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
from hippo_core.backends.local import adoption, machine
from hippo_core.backends.local import docker as docker_cli
from hippo_core.backends.local.attempts import AttemptRecord, AttemptRecords
from hippo_core.backends.local.endings import (
    AGENT,
    EXECUTOR,
    KILL_REQUESTED,
    KILL_SHUTDOWN,
    KILLED_BEFORE_START,
    MASTER,
    Ending,
    from_runner,
    launch_failed,
    stopped_with_hippo,
)
from hippo_core.backends.local.logs import LogStore
from hippo_core.backends.local.offers import EPSILON, OfferBook
from hippo_core.backends.local.process import RunnerProcess, plain_command, runner_orders
from hippo_core.backends.local.settings import DEFAULT_MAX_OUTPUT_BYTES, LocalSettings
from hippo_core.backoff import Backoff
from hippo_core.config import Config
from hippo_core.errors import FieldError
from hippo_core.policy import PolicySettings, run_as
from hippo_core.taskstate import MesosState

log = logging.getLogger(__name__)

MAX_RETRY_SECONDS = 10.0
# How long a term's end waits for launches under way to be claimed by their runners.
SETTLE_SECONDS = 30.0


@dataclass
class _Task:
    record: AttemptRecord
    last: TaskStatus
    launch: TaskLaunch | None = None
    runner: RunnerProcess | None = None
    kill_requested: bool = False
    holds_resources: bool = False
    warning: str | None = None
    thread: threading.Thread | None = None
    escalation: threading.Timer | None = None
    # Set once the launch is settled: a runner claimed it, or its ending is recorded.
    settled: threading.Event = field(default_factory=threading.Event)

    @property
    def task_id(self) -> str:
        return self.record.task_id

    @property
    def ended(self) -> bool:
        return self.last.terminal


class LocalBackend(Backend):
    """Offers this machine's free cpus and mem; runs each launch under a runner, in Docker or ``/bin/sh -c``.

    ``docker``: ``None`` asks the engine once at ``start`` (``docker version``);
    ``True``/``False`` decide without asking. ``offer_interval``: how often free
    resources are offered again while nobody accepts or declines them.
    ``kill_grace_seconds``: between SIGTERM and SIGKILL when killing a task.
    ``max_output_bytes``: what is kept of each output stream of an attempt.
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
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        python: str = sys.executable,
        docker_client: str = "docker",
        run_as_user: str = "",
    ) -> None:
        self.logs = LogStore(data_dir)
        # [policy] run_as_user: plain-process tasks run as that user when Hippo is root.
        self.run_as_user = run_as_user
        self.records = AttemptRecords(data_dir)
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
        self.max_output_bytes = max_output_bytes
        self.python = python
        self.docker_client = docker_client
        self.instance: str | None = None

        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._callbacks: SchedulerCallbacks | None = None
        self._framework_id: str | None = None
        self._registered = False
        self._stopping = False
        # Set by stop(): the records (and the tasks) belong to the next term's backend.
        self._detached = False
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
        return cls(
            config.data_dir,
            cpus=settings.cpus,
            mem=settings.mem,
            max_output_bytes=settings.max_output_bytes,
            run_as_user=config.section(PolicySettings).run_as_user,
        )

    # -- what the API asks outside a term ---------------------------------------------------

    def validate(self, definition: Mapping[str, Any]) -> list[FieldError]:
        parameters = ((definition.get("container") or {}).get("docker") or {}).get("parameters") or []
        problems = [
            FieldError(f"$.container.docker.parameters[{index}].key", why)
            for index, why in docker_cli.parameter_errors(parameters)
        ]
        family = definition.get("id")
        if isinstance(family, str) and family:
            try:
                self.logs.sandbox(f"{family}.{uuid.UUID(int=0)}")
            except ValueError:
                problems.append(
                    FieldError(
                        "$.id",
                        "the local backend keeps each attempt's files in a directory named after it, "
                        "which this id cannot name (no '..', no leading '.' or '-')",
                    )
                )
        return problems

    def has_logs(self, attempt_id: str, agent_id: str | None) -> bool:
        return self.logs.has_logs(attempt_id)

    def read_logs(
        self,
        attempt_id: str,
        agent_id: str | None,
        tail: int | None = None,
        offset: Mapping[str, int] | None = None,
    ) -> AttemptLogs | None:
        return self.logs.read(attempt_id, tail=tail, offset=offset)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, callbacks: SchedulerCallbacks, framework_id: str | None) -> None:
        with self._lock:
            if self._thread is not None:
                raise BackendError("the local backend is already started")
            self._callbacks = callbacks
            self._framework_id = framework_id or f"local-{uuid.uuid4()}"
        try:
            self.instance = self.records.instance_id()
        except OSError as exc:
            log.error("cannot keep the local backend's records in %s: %s", self.records.root, exc)
        # Before any callback: reconciliation must find every earlier attempt known.
        self._adopt_all()
        self._thread = threading.Thread(target=self._events, name="hippo-local-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the term: no more callbacks; every task keeps running for the next term's backend.

        Launches under way are waited for until their runners have claimed them, so the
        next backend finds each one recorded.
        """
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            self._detached = True
            unsettled = [t for t in self._tasks.values() if not t.settled.is_set()]
            running = sum(1 for t in self._tasks.values() if not t.ended)
            self._cond.notify_all()
        deadline = time.monotonic() + SETTLE_SECONDS
        for task in unsettled:
            if not task.settled.wait(max(0.0, deadline - time.monotonic())):
                log.warning("the launch of %s was not settled when the term ended", task.task_id)
        self._join_events()
        with self._lock:
            self._outbox.clear()
        log.info("local backend: term ended; %d task(s) keep running for the next term", running)

    def shutdown(self) -> None:
        """Hippo is stopping: kill every task (SIGTERM, SIGKILL after the grace) and record why.

        Nothing outlives a clean stop: no process, no container. The next start reports
        each of these attempts TASK_KILLED, killed when Hippo stopped (a system retry).
        """
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            running = [t for t in self._tasks.values() if not t.ended]
            for task in running:
                task.kill_requested = True
                task.record.kill = KILL_SHUTDOWN
                self._save(task.record)
            self._cond.notify_all()
        for task in running:
            if task.runner is not None:
                task.runner.stop()
        deadline = time.monotonic() + self.kill_grace_seconds
        for task in running:
            if task.thread is not None:
                task.thread.join(max(0.0, deadline - time.monotonic()))
        for task in running:
            if task.thread is not None and task.thread.is_alive():
                if task.runner is not None:
                    task.runner.force()
                task.thread.join(30.0)
                if task.thread.is_alive():
                    log.error("task %s did not end after SIGKILL", task.task_id)
        self._join_events()
        with self._lock:
            self._outbox.clear()
        if running:
            log.info(
                "local backend stopped: killed %d running task(s) because Hippo stopped; the next start "
                "reports them killed and retries them",
                len(running),
            )

    def _join_events(self) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10.0)

    # -- adopting what an earlier backend left ----------------------------------------------

    def _adopt_all(self) -> None:
        try:
            records = self.records.load_all()
        except OSError as exc:
            log.error("cannot read the local backend's records in %s: %s", self.records.dir, exc)
            return
        counts: collections.Counter[str] = collections.Counter()
        for record in records:
            with self._lock:
                if record.task_id in self._tasks:
                    continue
            counts[self._adopt(record)] += 1
        if counts:
            log.info(
                "found %d attempt(s) of an earlier run in %s: %d still running (adopted), %d ended "
                "meanwhile, %d lost",
                sum(counts.values()),
                self.records.dir,
                counts["running"],
                counts["ended"],
                counts["lost"],
            )

    def _adopt(self, record: AttemptRecord) -> str:
        """Take over one recorded attempt; what it was: ``running``, ``ended`` or ``lost``."""
        task = _Task(record, self._status(record.task_id, MesosState.TASK_STAGING, source=AGENT))
        task.kill_requested = record.kill is not None
        task.settled.set()
        with self._lock:
            self._tasks[record.task_id] = task
        found = adoption.assess(record, self.records)
        if found.kind == adoption.RUNNING:
            assert found.runner is not None
            self._watch(
                task, found.runner, MesosState.TASK_RUNNING if found.started else MesosState.TASK_STARTING
            )
            return adoption.RUNNING
        if found.kind == adoption.REATTACH:
            return self._reattach(task)
        if record.ending is not None:
            self._finish(task, Ending.from_dict(record.ending))
        else:
            self._finish(task, self._ending(task, found.exit_file))
        return found.kind

    def _reattach(self, task: _Task) -> str:
        """A container whose runner died: a new runner attaches to it, or collects how it ended."""
        self.records.forget_runner(task.task_id)
        client = shutil.which(self.docker_client)
        if client is None:
            self._finish(
                task, launch_failed(f"its container needs {self.docker_client}, which is not on PATH")
            )
            return "lost"
        sandbox = self.logs.sandbox(task.task_id)
        # Its runner may have died before removing the env file: the new one removes it.
        env_file = str(sandbox / docker_cli.ENV_FILE)
        orders = self._orders(
            task.task_id,
            sandbox,
            [],
            dict(os.environ),
            {"client": client, "name": task.task_id, "create": None, "env_file": env_file, "adopt": True},
        )
        try:
            runner = RunnerProcess.spawn(orders, self.records.path(task.task_id, "log"), self.python)
        except OSError as exc:
            self._finish(task, launch_failed(f"could not start a runner for its container: {exc}"))
            return "lost"
        self._watch(task, runner, MesosState.TASK_RUNNING)
        if task.kill_requested:
            self._begin_kill(task)
        return "running"

    def _watch(self, task: _Task, runner: RunnerProcess, state: MesosState) -> None:
        """Track an adopted runner until it exits."""
        with self._lock:
            task.runner = runner
            task.holds_resources = True
            self._book.take(task.record.cpus, task.record.mem)
            task.last = self._status(task.task_id, state, source=AGENT)
            task.thread = threading.Thread(
                target=self._await_runner, args=(task,), daemon=True, name=f"hippo-task-{task.task_id[:40]}"
            )
        task.thread.start()

    def _await_runner(self, task: _Task) -> None:
        assert task.runner is not None
        task.runner.wait()
        self._runner_ended(task)

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
            records = [self._record(launch) for launch in launches]
            try:
                # Recorded before anything runs: a crash from here on leaves a trace to adopt.
                for record in records:
                    self.records.save(record)
            except OSError as exc:
                raise BackendError(f"cannot record the launch in {self.records.dir}: {exc}") from exc
            self._book.answer(offer_ids)
            tasks = []
            for launch, record in zip(launches, records, strict=True):
                status = self._status(launch.task_id, MesosState.TASK_STAGING, source=AGENT)
                task = _Task(record, status, launch=launch, holds_resources=True)
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

    def _record(self, launch: TaskLaunch) -> AttemptRecord:
        image = ((launch.container or {}).get("docker") or {}).get("image")
        return AttemptRecord(
            launch.task_id, launch.cpus, launch.mem, bool(self.docker), image, accepted_at=time.time()
        )

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
            if task.record.kill is None:
                task.record.kill = KILL_REQUESTED
                self._save(task.record)
        self._begin_kill(task)

    def _begin_kill(self, task: _Task) -> None:
        runner = task.runner
        if runner is None:
            return  # not started yet: its thread sees kill_requested and never starts it
        runner.stop()
        with self._lock:
            if task.escalation is None and not task.ended:
                task.escalation = threading.Timer(self.kill_grace_seconds, runner.force)
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
            message=f"{asked}: the local backend on {self.hostname} has no record of this task in "
            f"{self.records.dir}: it never ran here, or its ending was reported and forgotten",
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
        assert launch is not None
        create: docker_cli.DockerCreate | None = None
        try:
            sandbox = self.logs.create(launch.task_id)
        except (OSError, ValueError) as exc:
            self._finish(
                task, launch_failed(f"could not create the task's directory under {self.logs.root}: {exc}")
            )
            return
        try:
            if task.record.docker:
                client = shutil.which(self.docker_client)
                if client is None:
                    raise ValueError(f"the docker client ({self.docker_client}) is not on PATH")
                if self.instance is None:
                    raise ValueError(f"the local backend cannot keep records in {self.records.root}")
                # The client gets Hippo's environment, the task's variables an env file:
                # the task's PATH or DOCKER_HOST must not reconfigure docker itself.
                create = docker_cli.docker_create(
                    launch, sandbox / docker_cli.ENV_FILE, self.instance, client
                )
                create.write_env_file()
                docker_orders = {
                    "client": client,
                    "name": create.name,
                    "create": create.argv,
                    "env_file": str(create.env_file) if create.env_file else None,
                    "adopt": False,
                }
                orders = self._orders(
                    launch.task_id, sandbox, [], create.client_env(os.environ), docker_orders
                )
            else:
                argv, env, task.warning = plain_command(launch, self.shell)
                self.logs.write_warning(launch.task_id, task.warning)
                orders = self._orders(launch.task_id, sandbox, argv, env, None)
                orders["user"] = self._run_as(sandbox, orders["env"])
        except (OSError, ValueError, LookupError) as exc:
            self._remove_env_file(launch.task_id, create)
            self._finish(task, launch_failed(f"could not prepare the task: {exc}"))
            return
        with self._lock:
            ending = None
            if task.kill_requested:
                ending = (
                    stopped_with_hippo(self.hostname, "before it started")
                    if task.record.kill == KILL_SHUTDOWN
                    else KILLED_BEFORE_START
                )
            else:
                self._update(task, MesosState.TASK_STARTING, message=task.warning)
        if ending is not None:
            self._remove_env_file(launch.task_id, create)
            self._finish(task, ending)
            return
        try:
            runner = RunnerProcess.spawn(orders, self.records.path(launch.task_id, "log"), self.python)
        except OSError as exc:
            self._remove_env_file(launch.task_id, create)
            self._finish(task, launch_failed(f"could not start the task's runner ({self.python}): {exc}"))
            return
        with self._lock:
            task.runner = runner
            kill_now = task.kill_requested
        if kill_now:
            self._begin_kill(task)
        for line in runner.progress():
            if line == "claimed":
                task.settled.set()
            elif line == "running":
                with self._lock:
                    self._update(task, MesosState.TASK_RUNNING, message=task.warning)
        task.settled.set()
        runner.wait()
        self._remove_env_file(launch.task_id, create)
        self._runner_ended(task)

    def _orders(
        self,
        attempt_id: str,
        sandbox: Path,
        argv: list[str],
        env: dict[str, str],
        docker: dict[str, Any] | None,
    ) -> dict[str, Any]:
        return runner_orders(
            attempt_id,
            sandbox,
            self.records.path(attempt_id, "pid"),
            self.records.path(attempt_id, "exit"),
            self.max_output_bytes,
            argv,
            env,
            docker,
        )

    def _run_as(self, sandbox: Path, env: dict[str, str]) -> dict[str, Any] | None:
        """The user a plain-process task runs as (``[policy] run_as_user`` when Hippo is root),
        given its directory and its own HOME and USER; ``None``: as Hippo."""
        user = run_as(PolicySettings(run_as_user=self.run_as_user))
        if user is None:
            return None
        os.chown(sandbox, user.uid, user.gid)
        env.update(HOME=str(sandbox), USER=user.name, LOGNAME=user.name)
        return {"uid": user.uid, "gid": user.gid}

    def _runner_ended(self, task: _Task) -> None:
        with self._lock:
            escalation = task.escalation
        if escalation is not None:
            escalation.cancel()
        exit_file = self.records.read(task.task_id, "exit")
        self._finish(task, self._ending(task, exit_file))

    def _ending(self, task: _Task, exit_file: Mapping[str, Any] | None) -> Ending:
        return from_runner(
            exit_file,
            kill=task.record.kill,
            host=self.hostname,
            image=task.record.image,
            mem=task.record.mem,
            runner_log=self.records.log_tail(task.task_id) if exit_file is None else "",
        )

    def _remove_env_file(self, task_id: str, create: docker_cli.DockerCreate | None) -> None:
        """The task's variables stay on disk no longer than docker needs them."""
        if create is None:
            return
        try:
            create.remove_env_file()
        except OSError as exc:
            log.warning(
                "could not remove %s, which holds task %s's environment: %s", create.env_file, task_id, exc
            )

    def _finish(self, task: _Task, ending: Ending) -> None:
        with self._lock:
            if self._detached and task.runner is not None:
                return  # its runner is the next term's backend's to watch and report
            self._end(task, ending)
        task.settled.set()

    def _end(self, task: _Task, ending: Ending) -> None:
        """Record how the task ended and free its resources (the lock is held)."""
        if task.record.ending is None:
            task.record.ending = ending.as_dict()
            self._save(task.record)
        self._update(task, ending.state, ending.reason, ending.message, ending.source)
        if task.holds_resources:
            task.holds_resources = False
            self._book.give_back(task.record.cpus, task.record.mem)
        self._ended.append(task.task_id)
        while len(self._ended) > self.keep_ended:
            old = self._ended.popleft()
            if old in self._tasks and self._tasks[old].ended:
                del self._tasks[old]
        self._cond.notify_all()

    def _save(self, record: AttemptRecord) -> None:
        try:
            self.records.save(record)
        except OSError as exc:
            log.error("could not record attempt %s in %s: %s", record.task_id, self.records.dir, exc)

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
        task.last = self._status(task.task_id, state, reason, message, source)
        self._send(task.last)

    def _send(self, status: TaskStatus) -> None:
        if not self._stopping:
            self._outbox.append(status)
            self._cond.notify_all()

    def _delivered(self, status: TaskStatus) -> None:
        """Hippo has applied ``status`` (the lock is held): an ending needs no record any more."""
        if not status.terminal or self._detached:
            return
        task = self._tasks.get(status.task_id)
        if task is not None and task.ended:
            self.records.remove(status.task_id)

    # -- the event thread -------------------------------------------------------------------

    def _events(self) -> None:
        callbacks = self._callbacks
        assert callbacks is not None
        # Asked here, not in start(): an engine that hangs must not hold up the worker. No
        # task can be launched before the first offer, which comes after this.
        if self.docker is None:
            self.docker = docker_cli.engine_answers(self.docker_client)
        if self.docker:
            self._sweep_containers()
        else:
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
                    self._delivered(payload)
            if unanswered:
                # Hippo answers offers inside the callback; one left open is taken back and
                # offered again later, so resources are never held by an offer nobody sees.
                self._call(callbacks.rescinded, payload.id)

    def _sweep_containers(self) -> None:
        """Remove this Hippo's containers that no recorded attempt accounts for."""
        if self.instance is None:
            return
        with self._lock:
            ours = {task_id for task_id, task in self._tasks.items() if not task.ended}
        try:
            docker_cli.remove_unaccounted(self.instance, ours, self.docker_client)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            log.warning("could not list this Hippo's containers: %s", exc)

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
