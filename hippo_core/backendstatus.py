"""The leading worker's backend connection, told to Redis for ``GET /status/`` and ``/events/``.

A subscriber of the event hook in the worker's process: ``leader.changed`` and
``backend.connected`` / ``backend.disconnected`` are recorded in the event stream and
as the backend's status, stamped with the leadership term (the lease token) they
belong to, so a status left behind by an earlier leader is recognised as stale.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from hippo_core import events
from hippo_core.events import Event
from hippo_core.store import Store

KINDS = frozenset({"leader.changed", "backend.connected", "backend.disconnected"})


class BackendStatusRecorder:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._term: str | None = None
        self._lock = threading.Lock()

    def handle(self, event: Event) -> None:
        if event.kind not in KINDS:
            return
        with self._lock:
            term: str | None
            if event.kind == "leader.changed":
                leading = bool(event.data.get("leading"))
                term = str(event.data.get("term"))
                self._term = term if leading else None
                why = "this worker took the lead and is connecting" if leading else "the worker stepped down"
                status = self._status(False, None, event, why)
            elif event.kind == "backend.connected":
                term = self._term
                status = self._status(True, event.data.get("framework_id"), event, None)
            else:
                term = self._term
                status = self._status(False, None, event, event.message)
            status["term"] = term
            self.store.append_events([event])
            self.store.set_backend_status(status)

    @staticmethod
    def _status(connected: bool, framework_id: Any, event: Event, message: str | None) -> dict[str, Any]:
        return {
            "backend": event.data.get("backend"),
            "connected": connected,
            "framework_id": framework_id,
            "message": message,
            "since": event.time or time.time(),
        }


def record_backend_status(store: Store) -> Callable[[], None]:
    """Subscribe a recorder for ``store``; returns the unsubscribe function."""
    return events.subscribe(BackendStatusRecorder(store).handle)
