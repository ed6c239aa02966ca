"""``/tasks/``: list and post one-off tasks; ``/tasks/{id}/``: read, delete, kill, re-run."""

from __future__ import annotations

import falcon

from hippo_core.api.body import json_body, require_body
from hippo_core.api.paging import envelope_json, page_params
from hippo_core.tasks import TaskService
from hippo_core.taskstate import State


class TasksResource:
    def __init__(self, service: TaskService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        offset, limit = page_params(req)
        state = req.get_param("state")
        if state is not None:
            state = state.upper()
            if state not in State.__members__:
                raise falcon.HTTPInvalidParam(f"must be one of {', '.join(State)}", "state")
        family = req.get_param("id")
        queue = req.get_param("queue_id") or req.get_param("queue")
        page = self.service.list_json(state=state, family=family, queue=queue, offset=offset, limit=limit)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = envelope_json(page)

    @falcon.before(json_body)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        task = self.service.create(require_body(req))
        resp.status = falcon.HTTP_201
        resp.location = f"/tasks/{task['mesos_id']}/"
        resp.media = task


class TaskResource:
    def __init__(self, service: TaskService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, task_id: str) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self.service.get_json(task_id).encode()

    def on_delete(self, req: falcon.Request, resp: falcon.Response, task_id: str) -> None:
        force = req.get_param_as_bool("force", default=False)
        self.service.delete(task_id, force=force)
        resp.status = falcon.HTTP_204

    def on_post_kill(self, req: falcon.Request, resp: falcon.Response, task_id: str) -> None:
        resp.media = self.service.kill(task_id)

    on_get_kill = on_post_kill

    def on_post_retry(self, req: falcon.Request, resp: falcon.Response, task_id: str) -> None:
        resp.media = self.service.rerun(task_id)
