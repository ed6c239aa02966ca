"""Task operations behind the API: post a one-off, find, list, kill, delete, re-run.

Addressing: ``/tasks/{id}/`` accepts a task's ``mesos_id``, the mesos id of any of its
attempts, or a family id (a one-off's ``id`` or a queue's id), which means the
family's newest task. So a retried task is found by any of its mesos ids, and a
one-off posted with ``"id": "nightly-report"`` is found by that name.

Retries: a task is one record however often it runs. Each run is an attempt with a
mesos id of its own (``<family>.<uuid>``; the first attempt's is the task's
``mesos_id``); ``attempts`` lists them oldest first, and the retry budgets spent are in
``task_retries_used`` and ``system_retries_used``.

Kill and delete are safe on an active task: a kill only marks the task KILLING and
records a kill request that the worker sends to the agent, and the task ends as KILLED
when Mesos confirms (it is never retried). Deleting an active task is refused (409)
unless forced; forced, the kill request is recorded before the record goes, so the
container does not run on unobserved.
"""

from __future__ import annotations

import uuid
from typing import Any

from hippo_core import states
from hippo_core.backend import Backend
from hippo_core.documents import refuse_unrunnable, validate_task
from hippo_core.errors import Conflict, NotFound
from hippo_core.policy import Policy
from hippo_core.records import Task
from hippo_core.store import Page, Store
from hippo_core.taskstate import ACTIVE_STATES, State


class TaskService:
    def __init__(self, store: Store, backend: Backend | None = None, policy: Policy | None = None) -> None:
        self.store = store
        self.backend = backend
        self.policy = policy

    def create(self, body: Any) -> Task:
        definition = validate_task(body)
        refuse_unrunnable(self.backend, definition, self.policy)
        family = definition.pop("id", None) or str(uuid.uuid4())
        data = definition.pop("data", "")
        task = states.new_task(definition, family=family, queue_id=None, data=data)
        if not self.store.create_tasks([task], unless_queue=family):
            # It would share the queue's family: its concurrency and its task listing.
            raise Conflict(f"{family!r} is the id of a queue; give the one-off task an id of its own")
        return task

    def resolve(self, ident: str) -> str:
        """The mesos_id of the task ``ident`` addresses (see the module docstring)."""
        mesos_id = self.store.task_for_attempt(ident) or self.store.newest_of_family(ident)
        if mesos_id is None:
            raise NotFound("task", ident)
        return mesos_id

    def get(self, ident: str) -> Task:
        return self.store.get_task(self.resolve(ident))

    def get_json(self, ident: str) -> str:
        """``get`` as the record's JSON, read in one round trip."""
        found = self.store.find_task_json(ident)
        if found is None:
            raise NotFound("task", ident)
        return found[1]

    def list_json(
        self, state: str | None, family: str | None, offset: int, limit: int, queue: str | None = None
    ) -> Page[str]:
        """``list`` as the records' JSON, in one round trip, parsing none in the current format."""
        if family and queue and family != queue:
            return Page([], 0, offset, limit)
        return self.store.list_tasks_json(state=state, family=family or queue, offset=offset, limit=limit)

    def history(self, ident: str) -> tuple[str, list[dict[str, Any]]]:
        """The task's mesos id and its events, oldest first."""
        mesos_id = self.resolve(ident)
        items = self.store.task_history(mesos_id)
        if not items:
            self.store.get_task(mesos_id)  # a task deleted meanwhile is a 404, not an empty history
        return mesos_id, items

    def list(
        self, state: str | None, family: str | None, offset: int, limit: int, queue: str | None = None
    ) -> Page:
        """A page of tasks, newest first; the filters given select together.

        A queue's tasks have the queue's id as family id, so ``queue`` selects a family too,
        and a different ``family`` beside it selects nothing.
        """
        if family and queue and family != queue:
            return Page([], 0, offset, limit)
        return self.store.list_tasks(state=state, family=family or queue, offset=offset, limit=limit)

    def kill(self, ident: str) -> Task:
        """Kill the task: a pending one ends at once, an active one is killed on its agent.

        Killing a task that is already being killed, or was killed, changes nothing;
        killing one that finished or failed is a conflict.
        """
        mesos_id = self.resolve(ident)

        def kill(task: Task) -> states.Outcome:
            if task["state"] in (State.FINISHED, State.FAILED):
                raise Conflict(f"task {mesos_id} already ended as {task['state']}; nothing to kill")
            # Entering KILLING records the kill request for the worker in the same write.
            return states.request_kill(task)

        states.apply_event(self.store.update_task, mesos_id, kill)
        return self.store.get_task(mesos_id)

    def delete(self, ident: str, force: bool = False) -> None:
        """Delete the task. An active one needs ``force``, and is then killed first."""
        mesos_id = self.resolve(ident)

        def refuse_active(task: Task) -> None:
            if task["state"] in ACTIVE_STATES and not force:
                raise Conflict(
                    f"task {mesos_id} is {task['state']}; kill it first or delete with ?force=true"
                )

        # A forced delete of an active task queues its kill in the same transaction.
        self.store.delete_task(mesos_id, refuse_active)

    def rerun(self, ident: str) -> Task:
        """Run an ended task again as a new attempt, its retry budgets restored."""
        mesos_id = self.resolve(ident)
        outcome = states.apply_event(self.store.update_task, mesos_id, states.rerun)
        if outcome is not None and outcome.refused:
            raise Conflict(f"task {mesos_id}: {outcome.refused}")
        self.store.wake()
        return self.store.get_task(mesos_id)
