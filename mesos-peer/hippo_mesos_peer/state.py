"""The master's books, shared by the mixins that make up :class:`~.master.Master`."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from hippo_mesos_peer.behaviors import Behavior, Finish, TaskPredicate, check_behavior
from hippo_mesos_peer.clock import Clock, Timer
from hippo_mesos_peer.cluster import AgentRecord, OfferFilter, OfferRecord, SimAgent
from hippo_mesos_peer.frameworks import SimFramework
from hippo_mesos_peer.protocol import event_update, is_terminal, task_status
from hippo_mesos_peer.resources import Resources
from hippo_mesos_peer.tasks import SimTask


class MasterState:
    def __init__(
        self,
        *,
        agents: list[SimAgent],
        heartbeat_interval: float = 15.0,
        allocation_interval: float = 0.1,
        failover_timeout_cap: float | None = None,
        default_behavior: Behavior | None = None,
        status_update_retry: float = 0.5,
        status_update_retry_max: float | None = None,
        offer_timeout: float | None = None,
        launch_delay: float = 0.0,
        kill_delay: float = 0.0,
        record_events: bool = True,
        credentials: Mapping[str, str] | None = None,
        root_submissions: bool = True,
        recovery_seconds: float = 0.1,
    ):
        for name, value in (
            ("heartbeat_interval", heartbeat_interval),
            ("allocation_interval", allocation_interval),
            ("status_update_retry", status_update_retry),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        self.lock = threading.RLock()
        self.errors: list[BaseException] = []
        self.clock = Clock(self.lock, self._internal_error)
        self.heartbeat_interval = heartbeat_interval
        self.allocation_interval = allocation_interval
        self.failover_timeout_cap = failover_timeout_cap
        self.default_behavior = check_behavior(default_behavior or Finish(after=0.05))
        self.status_update_retry = status_update_retry
        # The agent retries from 10s up to 10min: keep the same ratio unless told.
        self.status_update_retry_max = status_update_retry_max or 60 * status_update_retry
        self.offer_timeout = offer_timeout
        self.launch_delay = launch_delay
        self.kill_delay = kill_delay
        self.record_events = record_events
        # principal -> secret: with any, every scheduler call needs HTTP basic authentication.
        self.credentials = dict(credentials or {})
        self.root_submissions = root_submissions
        if recovery_seconds < 0:
            raise ValueError(f"recovery_seconds must not be negative, got {recovery_seconds}")
        self.recovery_seconds = recovery_seconds
        # A newly elected master answers 503 until it has read its registry (monotonic time).
        self.recovered_at = 0.0
        self.host = "127.0.0.1"
        self.port = 0
        self.master_id = str(uuid.uuid4())
        self.leading = True
        self.leader_url: str | None = None
        self.frameworks: dict[str, SimFramework] = {}
        self.removed_frameworks: dict[str, SimFramework] = {}
        self.agent_framework_infos: dict[str, dict[str, Any]] = {}
        self.agents: dict[str, AgentRecord] = {}
        self.offers: dict[str, OfferRecord] = {}
        self.filters: dict[tuple[str, str, str], list[OfferFilter]] = {}
        self.tasks: dict[tuple[str, str], SimTask] = {}
        self.launches: list[SimTask] = []
        self.refused_launches: list[tuple[str, str, str, str]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.responses: list[tuple[str, int, str]] = []
        self.agent_requests: list[tuple[str, str, str]] = []
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.notes: list[str] = []
        self.rules: list[tuple[TaskPredicate, Behavior]] = []
        self._framework_used: dict[str, Resources] = {}
        self._allocation_timer: Timer | None = None
        self._framework_seq = itertools.count()
        self._offer_seq = itertools.count(1)
        self._agent_seq = itertools.count()
        for spec in agents:
            self._admit_agent(spec)

    def _admit_agent(self, spec: SimAgent) -> AgentRecord:
        if not isinstance(spec, SimAgent):
            raise TypeError(f"expected a SimAgent, got {spec!r}")
        index = next(self._agent_seq)
        agent_id = spec.agent_id or f"{self.master_id}-S{index}"
        if agent_id in self.agents:
            raise ValueError(f"agent id {agent_id!r} is already in use")
        if any(a.hostname == spec.hostname for a in self.agents.values()):
            raise ValueError(f"agent hostname {spec.hostname!r} is already in use")
        agent = AgentRecord(spec, agent_id, index)
        self.agents[agent_id] = agent
        return agent

    def _new_framework_id(self) -> str:
        return f"{self.master_id}-{next(self._framework_seq):04d}"

    def _new_offer_id(self) -> str:
        return f"{self.master_id}-O{next(self._offer_seq)}"

    def _internal_error(self, exc: BaseException) -> None:
        self.errors.append(exc)

    def _send(self, framework: SimFramework, event: dict[str, Any]) -> None:
        if framework.stream is not None and framework.stream.send(event) and self.record_events:
            self.sent.append((framework.framework_id, event))

    def _master_update(
        self,
        framework_id: str,
        *,
        task_id: str,
        state: str,
        agent_id: str | None,
        reason: str | None,
        message: str,
        unreachable_time: float | None = None,
    ) -> None:
        """An update the master writes itself: sent once, without a uuid, if connected."""
        framework = self.frameworks.get(framework_id)
        if framework is None or not framework.connected:
            self.notes.append(f"{state} for {task_id} dropped: framework {framework_id} not connected")
            return
        status = task_status(
            task_id=task_id,
            state=state,
            source="SOURCE_MASTER",
            agent_id=agent_id,
            reason=reason,
            message=message,
            unreachable_time=unreachable_time,
            timestamp=time.time(),
        )
        self._send(framework, event_update(status))

    def _shutdown_framework_tasks(self, framework: SimFramework) -> None:
        """The framework is removed: the master marks its tasks killed, agents kill them."""
        for task in self.tasks.values():
            if task.framework_id != framework.framework_id:
                continue
            if task.in_master:
                task.unreachable = False
                self._master_transition(
                    task,
                    "TASK_KILLED",
                    "REASON_FRAMEWORK_REMOVED",
                    f"Framework {framework.framework_id} removed",
                    in_master=False,
                    notify=False,
                )
            elif task.holds_resources:
                self._release(task)
            self._drop_agent_stream(task)
            if not is_terminal(task.agent_state):
                task.agent_state = "TASK_KILLED"
