"""``GET /status/``: the leader, the backend's connection, tasks by state, the last hour, queues."""

from __future__ import annotations

import falcon

from hippo_core.status import StatusService


class StatusResource:
    def __init__(self, service: StatusService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.service.status()
