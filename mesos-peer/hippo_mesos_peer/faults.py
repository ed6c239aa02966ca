"""Faults a test can inject, each ending the way a real master handles it.

- Broken subscriptions: the master sees the connection close, disconnects the
  framework and starts its failover timeout.
- A partitioned agent is marked unreachable at once (a real master waits for
  its health checks to time out): its tasks become ``TASK_UNREACHABLE``
  (partition-aware) or ``TASK_LOST``, reason ``REASON_AGENT_REMOVED``, with
  ``unreachable_time``; its offers are rescinded and a FAILURE event goes out.
  The tasks keep running on the agent. When it heals, the agent reregisters:
  each of those tasks is reported again in its current state with reason
  ``REASON_AGENT_REREGISTERED``, and the agent resends what was not acknowledged.
- A removed agent is what ``MARK_AGENT_GONE`` does: its tasks become
  ``TASK_GONE_BY_OPERATOR`` with ``REASON_AGENT_REMOVED_BY_OPERATOR``
  (partition-aware) or ``TASK_LOST`` with ``REASON_AGENT_REMOVED``, and are
  gone for good.
- A master failover loses the master's memory: connections drop, offers and
  offer filters vanish, frameworks must resubscribe with their id, agents
  reregister (after ``agent_reregister_delay``) with the tasks they run, and
  until they do the master cannot answer for those tasks.
"""

from __future__ import annotations

import time
import uuid

from hippo_mesos_peer.cluster import (
    GONE,
    RECOVERING,
    REGISTERED,
    UNREACHABLE,
    AgentRecord,
    SimAgent,
)
from hippo_mesos_peer.frameworks import SimFramework
from hippo_mesos_peer.protocol import event_failure, is_terminal


class FaultsMixin:
    def find_agent(self, hostname_or_id: str) -> AgentRecord:
        for agent in self.agents.values():
            if hostname_or_id in (agent.agent_id, agent.hostname):
                return agent
        known = ", ".join(f"{a.hostname} ({a.agent_id})" for a in self.agents.values())
        raise KeyError(f"no agent {hostname_or_id!r}; the peer has: {known or 'none'}")

    def add_agent(self, spec: SimAgent) -> AgentRecord:
        agent = self._admit_agent(spec)
        self._allocate_soon()
        return agent

    def drop_subscriptions(self) -> None:
        for framework in list(self.frameworks.values()):
            if framework.connected:
                self._exited(framework, abrupt=True)

    def _notify_agent_lost(self, agent: AgentRecord) -> None:
        for framework in self.frameworks.values():
            if framework.connected:
                self._send(framework, event_failure(agent.agent_id))

    def partition_agent(self, hostname_or_id: str) -> None:
        agent = self.find_agent(hostname_or_id)
        if agent.status != REGISTERED:
            raise ValueError(f"agent {agent.hostname} is {agent.status}, not REGISTERED")
        agent.status = UNREACHABLE
        agent.unreachable_since = time.time()
        for offer in [o for o in self.offers.values() if o.agent_id == agent.agent_id]:
            self._rescind(offer)
        for task in self._agent_tasks(agent):
            if not task.in_master:
                continue
            framework = self.frameworks.get(task.framework_id)
            aware = framework is not None and framework.partition_aware
            task.unreachable = True
            self._master_transition(
                task,
                "TASK_UNREACHABLE" if aware else "TASK_LOST",
                "REASON_AGENT_REMOVED",
                "health check timed out",
                in_master=True,
                unreachable_time=agent.unreachable_since,
            )
        self._notify_agent_lost(agent)

    def heal_agent(self, hostname_or_id: str) -> None:
        agent = self.find_agent(hostname_or_id)
        if agent.status != UNREACHABLE:
            raise ValueError(f"agent {agent.hostname} is {agent.status}, not UNREACHABLE")
        self._reregister(agent)

    def remove_agent(self, hostname_or_id: str) -> None:
        agent = self.find_agent(hostname_or_id)
        previous = agent.status
        if previous == GONE:
            raise ValueError(f"agent {agent.hostname} is already gone")
        agent.status = GONE
        for offer in [o for o in self.offers.values() if o.agent_id == agent.agent_id]:
            self._rescind(offer)
        for task in self._agent_tasks(agent):
            # A recovered agent marked gone has no task metadata: nothing is sent for it.
            known = task.in_master and previous in (REGISTERED, UNREACHABLE)
            if known:
                framework = self.frameworks.get(task.framework_id)
                if framework is not None and framework.partition_aware:
                    state, reason = "TASK_GONE_BY_OPERATOR", "REASON_AGENT_REMOVED_BY_OPERATOR"
                else:
                    state, reason = "TASK_LOST", "REASON_AGENT_REMOVED"
                task.unreachable = False
                self._master_transition(task, state, reason, "Agent has been marked gone", in_master=False)
            elif task.holds_resources:
                self._release(task)
            # The agent is shut down, and its tasks with it.
            self._drop_agent_stream(task)
            if not is_terminal(task.agent_state):
                task.agent_state = "TASK_GONE_BY_OPERATOR"
                if not known:
                    task.record("TASK_GONE_BY_OPERATOR")
            task.in_master = False
        if previous == REGISTERED:
            self._notify_agent_lost(agent)

    def _agent_tasks(self, agent: AgentRecord) -> list:
        return [t for t in self.tasks.values() if t.agent_id == agent.agent_id]

    def _reregister(self, agent: AgentRecord) -> None:
        """The agent (re)registers and reports its tasks and unacknowledged updates."""
        was_unreachable = agent.status == UNREACHABLE
        agent.status = REGISTERED
        agent.unreachable_since = None
        for task in self._agent_tasks(agent):
            if not task.in_master:
                continue
            if task.framework_id not in self.frameworks:
                # Known again through this agent, but not connected until it resubscribes.
                info = self.agent_framework_infos[task.framework_id]
                self.frameworks[task.framework_id] = SimFramework(
                    task.framework_id, dict(info), recovered=True
                )
            task.master_state = task.agent_state
            if task.pending:
                task.status_update_state = task.pending[0].state
                task.status_update_uuid = task.pending[0].uuid
            if is_terminal(task.agent_state) and task.holds_resources:
                self._release(task)
            elif not is_terminal(task.agent_state) and not task.holds_resources:
                self._hold(task)
            if task.unreachable:
                task.unreachable = False
                task.record(task.agent_state)
                self._master_update(
                    task.framework_id,
                    task_id=task.task_id,
                    state=task.agent_state,
                    agent_id=agent.agent_id,
                    reason="REASON_AGENT_REREGISTERED",
                    message="Agent reregistered",
                )
            if was_unreachable and task.kill_requested:
                self._agent_kill(task)
            task.retry_interval = self.status_update_retry
            self._forward_head(task)
        self._allocate_soon()

    def lose_leadership(self, leader_url: str | None) -> None:
        """This master stops leading: it forgets everything held in memory."""
        self.leading = False
        self.leader_url = leader_url
        for framework in list(self.frameworks.values()):
            if framework.stream is not None:
                framework.stream.close(abrupt=True)
            for timer in (framework.heartbeat_timer, framework.failover_timer):
                if timer is not None:
                    timer.cancel()
        self.frameworks.clear()
        self.removed_frameworks.clear()
        for offer in list(self.offers.values()):
            self._remove_offer(offer)
        self.filters.clear()
        for agent in self.agents.values():
            if agent.status == REGISTERED:
                agent.status = RECOVERING
        for task in self.tasks.values():
            if task.retry_timer is not None:
                task.retry_timer.cancel()
            task.kill_requested = False

    def become_leader(self, agent_reregister_delay: float = 0.0) -> None:
        """Elected: the registry is read for ``recovery_seconds`` (scheduler calls get 503
        meanwhile), then agents reregister after ``agent_reregister_delay``."""
        self.leading = True
        self.leader_url = None
        self.master_id = str(uuid.uuid4())
        self.recovered_at = time.monotonic() + self.recovery_seconds
        for agent in self.agents.values():
            if agent.status == RECOVERING:
                self.clock.call_later(
                    self.recovery_seconds + agent_reregister_delay, self._recovered_agent_back, agent
                )

    def _recovered_agent_back(self, agent: AgentRecord) -> None:
        if self.leading and agent.status == RECOVERING:
            self._reregister(agent)

    def restart(self, agent_reregister_delay: float = 0.0) -> None:
        self.lose_leadership(None)
        self.become_leader(agent_reregister_delay)
