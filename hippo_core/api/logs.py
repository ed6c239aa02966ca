"""``/tasks/{id}/logs/``: what an attempt of a task wrote to stdout and stderr, from its backend.

The task is addressed like every task route (its mesos id, an attempt's mesos id, or a
family id for the family's newest task). Which attempt:

- ``?attempt=N``: attempt N (1 is the first run);
- otherwise the attempt the id names, when it names one;
- otherwise the newest attempt that has logs (a retry still waiting for resources has none).

``?tail=BYTES`` returns only the last BYTES of each stream. A stream is cut to its last
MiB either way; ``truncated`` says so and ``size`` is the whole file's. ``warning`` says
when the task did not run as asked (e.g. its image was not used). 404 for an attempt
whose backend has no logs of it (it has not started, or its backend cannot read them,
or they are gone: the backend's message says why), 502 when the backend could not
reach them now (the host that ran it did not answer).

Following output: each stream says where its text begins (``offset``) and where to go on
(``next_offset``); each has an offset of its own. ``?stdout_offset=N`` reads stdout from
byte N on (the bytes already read), at most a MiB per request, ending on a whole
character, and ``?stderr_offset=M`` likewise stderr; a stream without one is read from
its end as above. A follower asks again from each ``next_offset`` until it reaches
``size``, then waits for more: there is no cap on the total read that way. An offset
past its stream's end is a 400.
"""

from __future__ import annotations

import falcon

from hippo_core.backend import STREAMS, Backend, LogsUnavailable
from hippo_core.records import Attempt, Task
from hippo_core.tasks import TaskService


class LogsResource:
    def __init__(self, tasks: TaskService, backend: Backend | None) -> None:
        self.tasks = tasks
        self.backend = backend

    def on_get(self, req: falcon.Request, resp: falcon.Response, task_id: str) -> None:
        number = req.get_param_as_int("attempt", min_value=1)
        tail = req.get_param_as_int("tail", min_value=0)
        offsets = self._offsets(req)
        task = self.tasks.get(task_id)
        attempt = self._attempt(task, task_id, number)
        try:
            logs = (
                self.backend.read_logs(
                    attempt["mesos_id"], attempt.get("agent_id"), tail=tail, offset=offsets
                )
                if self.backend is not None
                else None
            )
        except LogsUnavailable as exc:
            gone = f"attempt {attempt['n']} ({attempt['mesos_id']}) of task {task['mesos_id']}: {exc}"
            if exc.transient:
                raise falcon.HTTPBadGateway(title="Logs unreachable", description=gone) from exc
            raise falcon.HTTPNotFound(title="Logs gone", description=gone) from exc
        except ValueError as exc:
            raise falcon.HTTPBadRequest(title="Invalid offset", description=str(exc)) from exc
        if logs is None:
            raise falcon.HTTPNotFound(
                title="No logs",
                description=f"attempt {attempt['n']} ({attempt['mesos_id']}) of task {task['mesos_id']} has "
                f"no logs here: it has not started yet, or its backend cannot read them.",
            )
        resp.media = {
            "task_id": task["mesos_id"],
            "attempt": attempt["n"],
            "mesos_id": attempt["mesos_id"],
            "state": attempt["state"],
            "attempts": [a["n"] for a in task["attempts"] if self._has_logs(a)],
            "warning": logs.warning,
            **{
                name: text.as_dict()
                for name, text in (("stdout", logs.stdout), ("stderr", logs.stderr))
                if text
            },
        }

    @staticmethod
    def _offsets(req: falcon.Request) -> dict[str, int] | None:
        """The streams to read from an offset (``stdout_offset``, ``stderr_offset``), if any."""
        offsets = {}
        for stream in STREAMS:
            value = req.get_param_as_int(f"{stream}_offset", min_value=0)
            if value is not None:
                offsets[stream] = value
        return offsets or None

    def _attempt(self, task: Task, ident: str, number: int | None) -> Attempt:
        attempts = task["attempts"]
        if number is not None:
            if number > len(attempts):
                raise falcon.HTTPNotFound(
                    title="Unknown attempt",
                    description=f"task {task['mesos_id']} has {len(attempts)} attempt(s); "
                    f"there is no attempt {number}.",
                )
            return attempts[number - 1]
        named = next((a for a in attempts if a["mesos_id"] == ident), None)
        if named is not None and ident != task["mesos_id"]:
            return named
        with_logs = [a for a in attempts if self._has_logs(a)]
        return with_logs[-1] if with_logs else attempts[-1]

    def _has_logs(self, attempt: Attempt) -> bool:
        return self.backend is not None and self.backend.has_logs(
            attempt["mesos_id"], attempt.get("agent_id")
        )
