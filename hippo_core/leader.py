"""The leader lease: only one worker drives the cluster at a time.

The lease is a Redis key holding the leader's token with an expiry. The leader renews
it several times per lease period; a standby takes it once it lapses. A leader that
cannot renew (Redis unreachable, the process paused) must consider itself deposed
as soon as its last successful renewal is older than the lease, because by then a
standby may hold it.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid

from hippo_core.errors import StoreUnavailable
from hippo_core.store import Store

log = logging.getLogger(__name__)


class Lease:
    def __init__(self, store: Store, seconds: float, token: str | None = None) -> None:
        self.store = store
        self.seconds = seconds
        self.token = token or f"{socket.gethostname()}:{uuid.uuid4()}"
        self._renewed_at: float | None = None

    def refresh(self) -> bool:
        """Take or renew the lease; True while this worker holds it."""
        started = time.monotonic()
        try:
            held = self.store.acquire_lease(self.token, self.seconds)
        except StoreUnavailable as exc:
            log.warning("cannot renew the leader lease: %s", exc)
            return self.held()
        if held:
            # Count from before the call: the lease may have been set at any point during it.
            self._renewed_at = started
        else:
            self._renewed_at = None
        return held

    def held(self) -> bool:
        """Whether the lease is surely still ours, judged by the local clock alone."""
        return self._renewed_at is not None and time.monotonic() - self._renewed_at < self.seconds

    def release(self) -> None:
        self._renewed_at = None
        try:
            self.store.release_lease(self.token)
        except StoreUnavailable as exc:
            log.warning("could not release the leader lease (it will lapse): %s", exc)
