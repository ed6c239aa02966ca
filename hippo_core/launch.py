"""What a task looks like to a backend: its ``TaskLaunch`` with Hippo's environment and labels.

Every task sees, besides its own ``env``:

- ``HIPPO_TASK_ID``: the mesos id of this attempt (what Mesos and the logs call it);
- ``HIPPO_TASK_FAMILY``: the family id (a queue's tasks: the queue's id);
- ``HIPPO_QUEUE_ID``: the queue that created it, empty for a one-off task;
- ``HIPPO_ATTEMPT``: 1 for the first run, 2 for the first retry, ...;
- ``HIPPO_DATA``: its items joined with the queue's separator, and
  ``HIPPO_DATA_BASE64`` the same, base64-encoded (for data a shell would mangle).
"""

from __future__ import annotations

import base64

from hippo_core.backend import TaskLaunch
from hippo_core.records import Task
from hippo_core.states import current_attempt

LABEL_TASK = "hippo.task"
LABEL_FAMILY = "hippo.family"
LABEL_QUEUE = "hippo.queue"


def task_environment(task: Task) -> dict[str, str]:
    attempt = current_attempt(task)
    data = task.get("data") or ""
    env = {k: str(v) for k, v in task.get("env", {}).items()}
    env.update(
        HIPPO_TASK_ID=attempt["mesos_id"],
        HIPPO_TASK_FAMILY=task["id"],
        HIPPO_QUEUE_ID=task.get("queue_id") or "",
        HIPPO_ATTEMPT=str(attempt["n"]),
        HIPPO_DATA=data,
        HIPPO_DATA_BASE64=base64.b64encode(data.encode()).decode(),
    )
    return env


def task_launch(task: Task, agent_id: str) -> TaskLaunch:
    attempt = current_attempt(task)
    labels = {LABEL_TASK: task["mesos_id"], LABEL_FAMILY: task["id"]}
    if task["queue_id"]:
        labels[LABEL_QUEUE] = task["queue_id"]
    return TaskLaunch(
        task_id=attempt["mesos_id"],
        name=f"hippo:{task['id']}",
        agent_id=agent_id,
        cpus=float(task["cpus"]),
        mem=float(task["mem"]),
        cmd=task["cmd"],
        env=task_environment(task),
        container=task["container"],
        labels=labels,
    )
