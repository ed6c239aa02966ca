"""``/queues/``: list and create; ``/queues/{id}/``: read, update, delete, toggle."""

from __future__ import annotations

from uuid import UUID

import falcon

from hippo_core.api.body import json_body, require_body
from hippo_core.api.paging import envelope, page_params
from hippo_core.queues import QueueService


class QueuesResource:
    def __init__(self, service: QueueService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        offset, limit = page_params(req)
        resp.media = envelope(self.service.list(offset, limit))

    @falcon.before(json_body)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        record = self.service.create(require_body(req))
        resp.status = falcon.HTTP_201
        resp.location = f"/queues/{record['id']}/"
        resp.media = record

    on_put = on_post


class QueueResource:
    def __init__(self, service: QueueService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, queue_id: UUID) -> None:
        resp.media = self.service.get(str(queue_id))

    @falcon.before(json_body)
    def on_post(self, req: falcon.Request, resp: falcon.Response, queue_id: UUID) -> None:
        resp.media = self.service.update(str(queue_id), require_body(req))

    on_put = on_post

    def on_delete(self, req: falcon.Request, resp: falcon.Response, queue_id: UUID) -> None:
        self.service.delete(str(queue_id))
        resp.status = falcon.HTTP_204

    def on_get_toggle(self, req: falcon.Request, resp: falcon.Response, queue_id: UUID) -> None:
        resp.media = self.service.toggle(str(queue_id))

    on_post_toggle = on_get_toggle
