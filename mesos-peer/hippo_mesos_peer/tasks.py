"""Simulated tasks: what their executor and agent report, and how updates reach the framework.

Each task has the agent's status update stream (``TaskStatusUpdateManager``):
updates queue in order and only the oldest unacknowledged one is forwarded;
it is forwarded again, with a doubling interval, until the framework
acknowledges its uuid, and only then does the next one go out. Each forward
also tells the master the task's latest state, which is when the master frees
a finished task's resources. The master drops a task from its books when the
framework acknowledges the task's terminal update.

Updates the master writes itself (invalid launches, reconciliation, agent
removal, ...) carry no uuid and are sent once.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from hippo_mesos_peer.behaviors import (
    Behavior,
    Error,
    Fail,
    Finish,
    Hang,
    Lose,
    default_output,
    lose_source,
    lose_state,
)
from hippo_mesos_peer.clock import Timer
from hippo_mesos_peer.cluster import GONE, RECOVERING, REGISTERED, UNREACHABLE
from hippo_mesos_peer.protocol import (
    event_update,
    is_terminal,
    new_uuid_bytes,
    task_status,
)
from hippo_mesos_peer.resources import Resources
from hippo_mesos_peer.rules import docker_refusal
from hippo_mesos_peer.sandbox import STREAMS, Sandbox


@dataclass
class PendingUpdate:
    uuid: bytes
    status: dict[str, Any]
    sent: int = 0

    @property
    def state(self) -> str:
        return self.status["state"]


@dataclass
class SimTask:
    """One launched task. ``state`` is its latest state in the peer's books (what the
    agent or the master last said about it); ``history`` lists every state with
    the ``time.monotonic()`` it was reached."""

    task_id: str
    agent_id: str
    framework_id: str
    state: str
    labels: dict[str, str]
    task_info: dict[str, Any]
    history: list[tuple[str, float]]
    hostname: str = ""
    behavior: Behavior | None = None
    resources: Resources = field(default_factory=Resources)
    # The master's view (Task.state, status_update_state/uuid, framework->tasks).
    master_state: str = "TASK_STAGING"
    status_update_state: str | None = None
    status_update_uuid: bytes | None = None
    in_master: bool = True
    unreachable: bool = False
    holds_resources: bool = True
    kill_requested: bool = False
    # The agent's view.
    agent_state: str = "TASK_STAGING"
    pending: deque[PendingUpdate] = field(default_factory=deque, repr=False)
    retry_interval: float = 0.0
    retry_timer: Timer | None = field(default=None, repr=False)
    life_timer: Timer | None = field(default=None, repr=False)
    # Where its executor runs on the agent (made when the agent gets the task).
    sandbox: Sandbox | None = field(default=None, repr=False)

    def record(self, state: str) -> None:
        if self.state != state or not self.history:
            self.state = state
            self.history.append((state, time.monotonic()))


def labels_of(task_info: dict[str, Any]) -> dict[str, str]:
    return {label["key"]: label.get("value", "") for label in task_info.get("labels", {}).get("labels", [])}


class TasksMixin:
    """Task lives, status update streams, KILL, ACKNOWLEDGE and RECONCILE."""

    # -- the agent and executor side -------------------------------------------------

    def _start_task(self, task: SimTask) -> None:
        task.life_timer = self.clock.call_later(self.launch_delay, self._task_delivered, task)

    def _agent_alive(self, task: SimTask) -> bool:
        return self.agents[task.agent_id].status != GONE and not is_terminal(task.agent_state)

    def _task_delivered(self, task: SimTask) -> None:
        if not self._agent_alive(task):
            return
        agent = self.agents[task.agent_id]
        # A command task's executor has the task's id (Slave::getExecutorInfo).
        task.sandbox = agent.sandboxes.create(task.framework_id, task.task_id)
        behavior = task.behavior
        if isinstance(behavior, Error):
            state = behavior.state_for(self._partition_aware(task))
            message = behavior.message or f"Failed to launch container: {behavior.reason}"
            self._agent_update(task, state, "SOURCE_AGENT", behavior.reason, message)
            return
        self._agent_update(task, "TASK_STARTING", "SOURCE_EXECUTOR")
        refusal = docker_refusal(task.task_info)
        if refusal is not None:
            # The Docker executor could not build its `docker run`: it says so and fails the task.
            task.sandbox.write("stderr", refusal.message + "\n")
            self._agent_update(task, "TASK_FAILED", "SOURCE_EXECUTOR", None, refusal.message)
            return
        task.life_timer = self.clock.call_later(self.launch_delay, self._task_running, task)

    def _task_running(self, task: SimTask) -> None:
        if not self._agent_alive(task):
            return
        self._agent_update(task, "TASK_RUNNING", "SOURCE_EXECUTOR")
        behavior = task.behavior
        if task.sandbox is not None:
            for stream in STREAMS:
                written = getattr(behavior, stream, None)
                task.sandbox.write(
                    stream, default_output(stream, task.task_id) if written is None else written
                )
        if isinstance(behavior, Finish):
            end = ("TASK_FINISHED", "SOURCE_EXECUTOR", None, "Command exited with status 0")
        elif isinstance(behavior, Fail):
            message = behavior.message or "Command exited with status 1"
            end = ("TASK_FAILED", "SOURCE_EXECUTOR", None, message)
        elif isinstance(behavior, Lose):
            reason = behavior.reason or "REASON_EXECUTOR_TERMINATED"
            state = lose_state(behavior, self._partition_aware(task))
            end = (state, lose_source(reason), reason, behavior.message or "Task lost")
        else:
            assert isinstance(behavior, Hang)
            return
        task.life_timer = self.clock.call_later(behavior.after, self._task_ends, task, *end)

    def _task_ends(self, task: SimTask, state: str, source: str, reason: str | None, message: str) -> None:
        if not self._agent_alive(task):
            return
        if source == "SOURCE_MASTER":
            self._master_loses(task, state, reason, message)
        else:
            self._agent_update(task, state, source, reason, message)

    def _agent_kill(self, task: SimTask) -> None:
        """The agent got a KillTaskMessage for ``task``."""
        if not self._agent_alive(task) or task.agent_state == "TASK_KILLING":
            return
        if task.life_timer is not None:
            task.life_timer.cancel()
        if task.agent_state == "TASK_STAGING":
            self._agent_update(
                task,
                "TASK_KILLED",
                "SOURCE_AGENT",
                "REASON_TASK_KILLED_DURING_LAUNCH",
                "Killed before delivery to the executor",
            )
            return
        framework = self.frameworks.get(task.framework_id)
        if framework is not None and "TASK_KILLING_STATE" in framework.capabilities:
            self._agent_update(task, "TASK_KILLING", "SOURCE_EXECUTOR")
        task.life_timer = self.clock.call_later(self.kill_delay, self._task_killed, task)

    def _task_killed(self, task: SimTask) -> None:
        if self._agent_alive(task):
            message = "Command terminated with signal Terminated"
            self._agent_update(task, "TASK_KILLED", "SOURCE_EXECUTOR", None, message)

    def _agent_update(
        self,
        task: SimTask,
        state: str,
        source: str,
        reason: str | None = None,
        message: str | None = None,
    ) -> None:
        """The executor or agent reports ``state``: queue it in the task's stream."""
        task.agent_state = state
        task.record(state)
        raw = new_uuid_bytes()
        status = task_status(
            task_id=task.task_id,
            state=state,
            source=source,
            agent_id=task.agent_id,
            reason=reason,
            message=message,
            executor_id=task.task_id if source == "SOURCE_EXECUTOR" else None,
            uuid_bytes=raw,
        )
        task.pending.append(PendingUpdate(raw, status))
        if len(task.pending) == 1:
            task.retry_interval = self.status_update_retry
            self._forward_head(task)

    def _forward_head(self, task: SimTask) -> None:
        """Send the oldest unacknowledged update, if the agent can reach the master."""
        if task.retry_timer is not None:
            task.retry_timer.cancel()
            task.retry_timer = None
        if not task.pending or not self.leading:
            return
        if self.agents[task.agent_id].status != REGISTERED:
            return  # resumed when the agent (re)registers
        head = task.pending[0]
        head.sent += 1
        self._master_learns(task, head)
        framework = self.frameworks.get(task.framework_id)
        if framework is not None and framework.connected:
            self._send(framework, event_update(dict(head.status)))
        task.retry_timer = self.clock.call_later(task.retry_interval, self._retry_head, task, head.uuid)

    def _retry_head(self, task: SimTask, uuid: bytes) -> None:
        if task.pending and task.pending[0].uuid == uuid:
            task.retry_interval = min(task.retry_interval * 2, self.status_update_retry_max)
            self._forward_head(task)

    def _master_learns(self, task: SimTask, head: PendingUpdate) -> None:
        """``Master::updateTask`` for an update the agent forwarded."""
        if not is_terminal(task.master_state):
            task.master_state = task.agent_state
        task.status_update_state = head.state
        task.status_update_uuid = head.uuid
        if task.holds_resources and is_terminal(task.master_state):
            self._release(task)

    def _master_loses(self, task: SimTask, state: str, reason: str | None, message: str) -> None:
        """The master declares ``task`` gone by itself: one unreliable update, no uuid."""
        task.agent_state = state
        self._drop_agent_stream(task)
        self._master_transition(task, state, reason, message, in_master=False)

    def _master_transition(
        self,
        task: SimTask,
        state: str,
        reason: str | None,
        message: str,
        *,
        in_master: bool,
        unreachable_time: float | None = None,
        notify: bool = True,
    ) -> None:
        if not is_terminal(task.master_state):
            task.master_state = state
        task.in_master = in_master
        if task.holds_resources and (is_terminal(state) or state == "TASK_UNREACHABLE"):
            self._release(task)
        if not is_terminal(task.agent_state) or is_terminal(state):
            task.record(state)
        if notify:
            self._master_update(
                task.framework_id,
                task_id=task.task_id,
                state=state,
                agent_id=task.agent_id,
                reason=reason,
                message=message,
                unreachable_time=unreachable_time,
            )

    def _drop_agent_stream(self, task: SimTask) -> None:
        for timer in (task.retry_timer, task.life_timer):
            if timer is not None:
                timer.cancel()
        task.pending.clear()

    def _release(self, task: SimTask) -> None:
        task.holds_resources = False
        self.agents[task.agent_id].used = self.agents[task.agent_id].used - task.resources
        self._framework_used[task.framework_id] = (
            self._framework_used.get(task.framework_id, Resources()) - task.resources
        )

    def _hold(self, task: SimTask) -> None:
        task.holds_resources = True
        self.agents[task.agent_id].used = self.agents[task.agent_id].used + task.resources
        self._framework_used[task.framework_id] = (
            self._framework_used.get(task.framework_id, Resources()) + task.resources
        )

    def _partition_aware(self, task: SimTask) -> bool:
        framework = self.frameworks.get(task.framework_id)
        return framework is not None and framework.partition_aware

    # -- the master side ---------------------------------------------------------------

    def _master_task(self, framework_id: str, task_id: str) -> SimTask | None:
        """The task if it is in the master's ``framework->tasks``."""
        task = self.tasks.get((framework_id, task_id))
        if task is None or not task.in_master or task.unreachable:
            return None
        if self.agents[task.agent_id].status != REGISTERED:
            return None
        return task

    def kill(self, framework: Any, kill: dict[str, Any]) -> None:
        task_id = kill["task_id"]["value"]
        agent_id = kill.get("agent_id", {}).get("value")
        task = self._master_task(framework.framework_id, task_id)
        if task is None:
            # Unknown to the master: answered by reconciling that task.
            self.reconcile(framework, {"tasks": [kill]})
            return
        if agent_id is not None and agent_id != task.agent_id:
            self.notes.append(f"KILL of {task_id} named agent {agent_id}, not {task.agent_id}")
            return
        task.kill_requested = True
        self._agent_kill(task)

    def acknowledge(self, framework: Any, ack: dict[str, Any]) -> None:
        agent_id = ack["agent_id"]["value"]
        task_id = ack["task_id"]["value"]
        uuid = ack["uuid"]
        agent = self.agents.get(agent_id)
        if agent is None or agent.status != REGISTERED:
            self.notes.append(f"ACKNOWLEDGE for {task_id} ignored: agent {agent_id} not registered")
            return
        task = self.tasks.get((framework.framework_id, task_id))
        if task is None or task.agent_id != agent_id:
            self.notes.append(f"ACKNOWLEDGE for unknown task {task_id} on agent {agent_id}")
            return
        in_books = task.in_master and not task.unreachable and task.status_update_state is not None
        if in_books and is_terminal(task.status_update_state) and task.status_update_uuid == uuid:
            # The terminal update is acknowledged: the master forgets the task.
            task.in_master = False
        if task.pending and task.pending[0].uuid == uuid and task.pending[0].sent:
            task.pending.popleft()
            task.retry_interval = self.status_update_retry
            self._forward_head(task)
        else:
            self.notes.append(f"ACKNOWLEDGE for {task_id} with an unexpected uuid")

    def reconcile(self, framework: Any, reconcile: dict[str, Any]) -> None:
        items = reconcile.get("tasks", [])
        if not items:
            for task in list(self.tasks.values()):
                if task.framework_id == framework.framework_id:
                    known = self._master_task(framework.framework_id, task.task_id)
                    if known is task:
                        self._reconcile_known(framework, task)
            return
        for item in items:
            task_id = item["task_id"]["value"]
            agent_id = item.get("agent_id", {}).get("value")
            task = self._master_task(framework.framework_id, task_id)
            if task is not None:
                self._reconcile_known(framework, task)
            else:
                self._reconcile_unknown(framework, task_id, agent_id)

    def _reconcile_known(self, framework: Any, task: SimTask) -> None:
        state = task.status_update_state or task.master_state
        self._master_update(
            framework.framework_id,
            task_id=task.task_id,
            state=state,
            agent_id=task.agent_id,
            reason="REASON_RECONCILIATION",
            message="Reconciliation: Latest task state",
        )

    def _reconcile_unknown(self, framework: Any, task_id: str, agent_id: str | None) -> None:
        agent = self.agents.get(agent_id) if agent_id is not None else None
        recovering = any(a.status == RECOVERING for a in self.agents.values())
        if (agent is not None and agent.status == RECOVERING) or (agent_id is None and recovering):
            # The agent has not reregistered since a master failover: no answer yet.
            return
        unreachable_time = None
        if agent is not None and agent.status == REGISTERED:
            state, message = "TASK_GONE", "Reconciliation: Task is unknown to the agent"
        elif agent is not None and agent.status == UNREACHABLE:
            state, message = "TASK_UNREACHABLE", "Reconciliation: Task is unreachable"
            unreachable_time = agent.unreachable_since
        elif agent is not None and agent.status == GONE:
            state, message = "TASK_GONE_BY_OPERATOR", "Reconciliation: Task is gone"
        else:
            state, message = "TASK_UNKNOWN", "Reconciliation: Task is unknown"
        if not framework.partition_aware:
            state = "TASK_LOST"
        self._master_update(
            framework.framework_id,
            task_id=task_id,
            state=state,
            agent_id=agent_id,
            reason="REASON_RECONCILIATION",
            message=message,
            unreachable_time=unreachable_time,
        )
