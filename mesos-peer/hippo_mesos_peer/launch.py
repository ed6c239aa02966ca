"""ACCEPT: validating offers and tasks, launching, returning what was not used.

Follows ``Master::accept``/``_accept`` and ``validation.cpp``:

- invalid offers (none given, a duplicate, unknown or rescinded, another
  framework's, different roles, different agents) fail the whole call: every
  task to launch gets ``TASK_DROPPED`` (partition-aware) or ``TASK_LOST``
  with ``REASON_INVALID_OFFERS``, and the valid offers among them are released
  without a filter;
- a LAUNCH whose tasks carry an invalid resource (``rules.launch_resources_refusal``)
  fails as a whole: every one of its tasks gets ``TASK_ERROR`` /
  ``REASON_TASK_INVALID`` with the raw resource message;
- otherwise each task is validated on its own, in order, against what is left
  of the offers, by the master's checks in the master's order (:mod:`.rules`,
  plus a duplicate or unreachable task id, the wrong agent and more resources
  than are left): a bad task gets ``TASK_ERROR`` with ``REASON_TASK_INVALID``
  and the others launch;
- what no task used is declined with the call's filter.

What the Docker executor refuses (relative volume pairs, ...) is launched and
fails on the agent (see :mod:`.tasks`).
"""

from __future__ import annotations

from typing import Any

from hippo_mesos_peer.allocation import refuse_seconds
from hippo_mesos_peer.behaviors import Behavior
from hippo_mesos_peer.cluster import REGISTERED, AgentRecord
from hippo_mesos_peer.frameworks import SimFramework
from hippo_mesos_peer.resources import Resources, foreign_to
from hippo_mesos_peer.rules import (
    executor_refusal,
    launch_resources_refusal,
    task_id_refusal,
    task_refusal,
)
from hippo_mesos_peer.tasks import SimTask, labels_of


def _launch_tasks(operation: dict[str, Any]) -> list[dict[str, Any]]:
    if operation.get("type") == "LAUNCH":
        return operation.get("launch", {}).get("task_infos", [])
    if operation.get("type") == "LAUNCH_GROUP":
        group = operation.get("launch_group", {})
        tasks = group.get("task_group", {}).get("tasks", []) if isinstance(group, dict) else []
        return [t for t in tasks if isinstance(t, dict) and "task_id" in t]
    return []


class LaunchMixin:
    def accept(self, framework: SimFramework, accept: dict[str, Any]) -> None:
        offer_ids = [o["value"] for o in accept.get("offer_ids", [])]
        operations = accept.get("operations", [])
        error = self._offers_error(offer_ids, framework) if offer_ids else "No offers specified"
        if error is not None:
            for offer_id in offer_ids:
                if offer_id in self.offers:
                    self._remove_offer(self.offers[offer_id])
            state = "TASK_DROPPED" if framework.partition_aware else "TASK_LOST"
            for operation in operations:
                for task in _launch_tasks(operation):
                    self._task_refused(
                        framework,
                        task,
                        state,
                        "REASON_INVALID_OFFERS",
                        "Task launched with invalid offers: " + error,
                    )
            return
        offers = [self.offers[o] for o in offer_ids]
        agent = self.agents[offers[0].agent_id]
        role = offers[0].role
        remaining = Resources()
        for offer in offers:
            remaining = remaining + offer.resources
            self._remove_offer(offer)
        for operation in operations:
            remaining = self._apply(framework, agent, role, operation, remaining)
        self._add_filter(offers[0], remaining, refuse_seconds(accept.get("filters")))

    def _offers_error(self, offer_ids: list[str], framework: SimFramework) -> str | None:
        seen: set[str] = set()
        for offer_id in offer_ids:
            if offer_id in seen:
                return f"Duplicate offer {offer_id} in offer list"
            seen.add(offer_id)
        for offer_id in offer_ids:
            if offer_id not in self.offers:
                return f"Offer {offer_id} is no longer valid"
        for offer_id in offer_ids:
            owner = self.offers[offer_id].framework_id
            if owner != framework.framework_id:
                return (
                    f"Offer {offer_id} has invalid framework {owner}"
                    f" while framework {framework.framework_id} is expected"
                )
        first = self.offers[offer_ids[0]]
        for offer_id in offer_ids:
            role = self.offers[offer_id].role
            if role != first.role:
                return (
                    "Aggregated offers must be allocated to the same role. Offer"
                    f" {offer_id} uses role '{role} but another is using role '{first.role}"
                )
        for offer_id in offer_ids:
            agent_id = self.offers[offer_id].agent_id
            if agent_id != first.agent_id:
                return (
                    "Aggregated offers must belong to one single agent. Offer"
                    f" {offer_id} uses agent {agent_id} and agent {first.agent_id}"
                )
        return None

    def _apply(
        self,
        framework: SimFramework,
        agent: AgentRecord,
        role: str,
        operation: dict[str, Any],
        remaining: Resources,
    ) -> Resources:
        kind = operation.get("type")
        if kind == "LAUNCH_GROUP":
            for task in _launch_tasks(operation):
                self._task_refused(
                    framework,
                    task,
                    "TASK_ERROR",
                    "REASON_TASK_GROUP_INVALID",
                    "LAUNCH_GROUP is not simulated by the Mesos test peer",
                )
            return remaining
        if kind != "LAUNCH":
            self.notes.append(f"ACCEPT operation {kind} dropped: only LAUNCH is simulated")
            return remaining
        refusal = launch_resources_refusal(_launch_tasks(operation))
        if refusal is not None:
            for task in _launch_tasks(operation):
                self._task_refused(framework, task, "TASK_ERROR", "REASON_TASK_INVALID", refusal.message)
            return remaining
        for task in _launch_tasks(operation):
            if "id" in operation:
                problem = "The `id` field cannot be set on LAUNCH operations"
            else:
                problem = self._task_error(task, framework, agent, role, remaining)
            if problem is not None:
                self._task_refused(framework, task, "TASK_ERROR", "REASON_TASK_INVALID", problem)
                continue
            needed = self._task_resources(task)
            remaining = remaining - needed
            self._launch(framework, agent, task, needed)
        return remaining

    @staticmethod
    def _task_resources(task: dict[str, Any]) -> Resources:
        items = list(task.get("resources", []))
        # The peer keeps no executors of its own: an executor's resources go with its task.
        items += task.get("executor", {}).get("resources", [])
        return Resources.from_json(items)

    def _task_error(
        self,
        task: dict[str, Any],
        framework: SimFramework,
        agent: AgentRecord,
        role: str,
        available: Resources,
    ) -> str | None:
        refusal = task_id_refusal(task)
        if refusal is not None:
            return refusal.message
        task_id = task["task_id"]["value"]
        known = self.tasks.get((framework.framework_id, task_id))
        if known is not None and known.in_master:
            if known.unreachable:
                return f"Task reuses the ID of an unreachable task: {task_id}"
            if self.agents[known.agent_id].status == REGISTERED:
                return f"Task has duplicate ID: {task_id}"
        agent_id = task["agent_id"]["value"]
        if agent_id != agent.agent_id:
            return f"Task uses invalid agent {agent_id} while agent {agent.agent_id} is expected"
        refusal = task_refusal(task) or executor_refusal(task)
        if refusal is not None:
            return refusal.message
        needed = self._task_resources(task)
        items = task.get("resources", []) + task.get("executor", {}).get("resources", [])
        if foreign_to(items, role) or not available.contains(needed):
            return (
                f"Total resources {needed} required by task and its executor"
                f" is more than available {available}"
            )
        return None

    def _task_refused(
        self,
        framework: SimFramework,
        task: dict[str, Any],
        state: str,
        reason: str,
        message: str,
    ) -> None:
        self.refused_launches.append((task["task_id"]["value"], state, reason, message))
        self._master_update(
            framework.framework_id,
            task_id=task["task_id"]["value"],
            state=state,
            agent_id=task["agent_id"]["value"],
            reason=reason,
            message=message,
        )

    def _launch(
        self,
        framework: SimFramework,
        agent: AgentRecord,
        task_info: dict[str, Any],
        needed: Resources,
    ) -> None:
        task = SimTask(
            task_id=task_info["task_id"]["value"],
            agent_id=agent.agent_id,
            framework_id=framework.framework_id,
            state="TASK_STAGING",
            labels=labels_of(task_info),
            task_info=task_info,
            history=[],
            hostname=agent.hostname,
            behavior=self._behavior_for(task_info),
            resources=needed,
            holds_resources=False,
        )
        task.record("TASK_STAGING")
        self._hold(task)
        self.tasks[(framework.framework_id, task.task_id)] = task
        self.launches.append(task)
        self._start_task(task)

    def _behavior_for(self, task_info: dict[str, Any]) -> Behavior:
        for predicate, behavior in self.rules:
            try:
                matched = predicate(task_info)
            except Exception as exc:
                # A broken rule is a test bug: report it, and fall through to the default.
                self._internal_error(exc)
                continue
            if matched:
                return behavior
        return self.default_behavior
