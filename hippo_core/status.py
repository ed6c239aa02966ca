"""What ``GET /status/`` tells people and the UI: who leads, the backend, tasks and queues.

Read from Redis on each request, whichever API process answers: the leader's lease
(its term is the lease token), the backend connection the leading worker recorded
(:mod:`hippo_core.backendstatus`; a record of an earlier term counts as unknown),
tasks by state, the last hour's launches and failures, and each queue's active and
pending tasks.
"""

from __future__ import annotations

from typing import Any

from hippo_core.store import Store


class StatusService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def status(self) -> dict[str, Any]:
        token, seconds_left = self.store.leader_lease()
        return {
            "leader": self._leader(token, seconds_left),
            "backend": self._backend(token),
            "tasks": {str(state): n for state, n in self.store.state_counts().items()},
            "last_hour": self.store.recent_counts(60),
            "queues": self._queues(),
        }

    @staticmethod
    def _leader(token: str | None, seconds_left: float | None) -> dict[str, Any] | None:
        if token is None:
            return None
        # Tokens are "<hostname>:<uuid>" (hippo_core.leader.Lease).
        host = token.rsplit(":", 1)[0] if ":" in token else token
        return {"host": host, "term": token, "lease_seconds_left": seconds_left}

    def _backend(self, token: str | None) -> dict[str, Any]:
        recorded = self.store.backend_status()
        if token is None:
            return {"connected": False, "message": "no worker leads"}
        if recorded is None or recorded.get("term") != token:
            return {"connected": False, "message": "the leader has not reported its backend yet"}
        return {k: recorded.get(k) for k in ("backend", "connected", "framework_id", "message", "since")}

    def _queues(self) -> list[dict[str, Any]]:
        out = []
        for queue, state, counts in self.store.queues_with_runtime(self.store.queue_ids()).items:
            block = queue["queue"]
            out.append(
                {
                    "id": queue["id"],
                    "name": block["name"],
                    "type": block["type"],
                    "status": block["status"],
                    "max_concurrent": block["max_concurrent"],
                    **counts,
                    "last_run_tstamp": state.get("last_run_tstamp"),
                    "next_run_tstamp": state.get("next_run_tstamp"),
                    "last_error": state.get("last_error"),
                }
            )
        return out
