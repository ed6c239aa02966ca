"""``/queuetypes/``: the installed queue types with their settings schemas."""

from __future__ import annotations

import falcon

from hippo_core.registry import QueueTypeRegistry


class QueueTypesResource:
    def __init__(self, registry: QueueTypeRegistry) -> None:
        self.registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"items": self.registry.describe()}
