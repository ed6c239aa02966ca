"""``/healthz`` (the process answers) and ``/readyz`` (and its Redis answers too)."""

from __future__ import annotations

import falcon

from hippo_core.errors import StoreUnavailable
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
        except StoreUnavailable as exc:
            # Answered in the error shape like every other failure; balancers read the 503.
            raise falcon.HTTPServiceUnavailable(
                title="Redis unavailable",
                description=f"Redis did not answer the readiness ping: {exc}. "
                "Check HIPPO_REDIS_URL and that Redis is running.",
            ) from exc
        resp.media = {"status": "ok", "redis": "ok"}
