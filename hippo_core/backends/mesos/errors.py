"""What can go wrong talking to a Mesos master, as exceptions a caller can tell apart."""

from __future__ import annotations


class MesosError(Exception):
    """Base of every error of Hippo's Mesos client."""


class MesosConnectionError(MesosError):
    """No master could be reached, or a connection broke; worth retrying later."""


class MesosProtocolError(MesosConnectionError):
    """The master sent something that is not the v1 API (bad RecordIO, bad JSON)."""


class NotSubscribedError(MesosError):
    """A call was attempted while no subscription is live (not yet, or lost)."""


class MesosCallError(MesosError):
    """The master answered a call with an error status (4xx/5xx)."""

    def __init__(self, call_type: str, status: int, detail: str, url: str) -> None:
        self.call_type = call_type
        self.status = status
        self.detail = detail
        self.url = url
        super().__init__(f"Mesos master at {url} refused {call_type}: HTTP {status}: {detail}")

    @property
    def retriable(self) -> bool:
        """5xx (e.g. 503, master not ready) and 408/429 may pass; other 4xx will not."""
        return self.status >= 500 or self.status in (408, 429)
