"""``/healthz`` (the process answers) and ``/readyz`` (and its Redis answers too)."""

from __future__ import annotations

import falcon
import redis

from hippo_core.store import Store


class HealthResource:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


class ReadyResource:
    def __init__(self, store: Store) -> None:
        self.store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            self.store.ping()
        except redis.RedisError as exc:
            resp.status = falcon.HTTP_503
            resp.media = {"status": "unavailable", "redis": f"{type(exc).__name__}: {exc}"}
            return
        resp.media = {"status": "ok", "redis": "ok"}
