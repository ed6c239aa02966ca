"""Where an agent's own HTTP API answers: asked of the leading master's ``/slaves``, kept briefly.

Each entry of ``/slaves`` has the agent's ``pid``, ``slave(1)@<ip>:<port>``, the address
its libprocess listens on, and its advertised ``hostname`` and ``port``. Hippo uses the
``pid`` (the Mesos web UI does the same): an agent's ``--hostname`` need not resolve
where Hippo runs. Agents a master failover left "recovered" but not reregistered yet
are listed without a ``pid``; their hostname and port are tried instead. An agent the
master does not list at all was removed or is unreachable.

The agents are reached with the masters' scheme (``http`` or ``https``) and Hippo's
credentials, if it has any (agents with ``--authenticate_http_readonly`` need them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests

from hippo_core.backend import LogsUnavailable
from hippo_core.backends.mesos import transport

CACHE_SECONDS = 30.0
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class AgentAddress:
    agent_id: str
    hostname: str
    url: str  # scheme://ip:port of its HTTP API


def master_base(master: str) -> str:
    """The root of a master's HTTP endpoints, from how the master is configured."""
    return transport.scheduler_url(master).removesuffix(transport.SCHEDULER_PATH)


def address_from_slave(entry: dict[str, object], scheme: str) -> str:
    """``scheme://ip:port`` of one ``/slaves`` entry: from its ``pid``, else hostname and port."""
    pid = entry.get("pid")
    if isinstance(pid, str) and "@" in pid:
        return f"{scheme}://{pid.rsplit('@', 1)[1]}"
    return f"{scheme}://{entry['hostname']}:{entry['port']}"


class AgentDirectory:
    """Agents' addresses by id, from the masters (the leader, following redirects)."""

    def __init__(
        self,
        masters: list[str],
        session: Callable[[], requests.Session],
        auth: requests.auth.AuthBase | None = None,
        timeout: tuple[float, float] = (5.0, 10.0),
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self.masters = [master_base(m) for m in masters]
        self._session = session
        self._auth = auth
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[AgentAddress, float]] = {}

    def address(self, agent_id: str) -> AgentAddress:
        """Where ``agent_id`` answers; :class:`LogsUnavailable` when no master lists it."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(agent_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        listing, base = self._slaves(agent_id)
        scheme = urlsplit(base).scheme
        for key in ("slaves", "recovered_slaves"):
            for entry in listing.get(key) or []:
                if entry.get("id") == agent_id:
                    found = AgentAddress(
                        agent_id, str(entry.get("hostname", "")), address_from_slave(entry, scheme)
                    )
                    with self._lock:
                        self._cache[agent_id] = (found, now + self._cache_seconds)
                    return found
        raise LogsUnavailable(
            f"agent {agent_id} is not registered with the Mesos master at {base} any more: it was "
            "removed from the cluster or is unreachable, so its sandboxes cannot be read"
        )

    def forget(self, agent_id: str) -> None:
        """Drop what is known of the agent (it did not answer where it was said to be)."""
        with self._lock:
            self._cache.pop(agent_id, None)

    def _slaves(self, agent_id: str) -> tuple[dict[str, list[dict[str, object]]], str]:
        failures = []
        for base in self.masters:
            url = f"{base}/slaves?slave_id={agent_id}"
            try:
                response = self._get(url)
            except requests.RequestException as exc:
                failures.append(f"{base}: {exc}")
                continue
            if response.status_code != 200:
                failures.append(f"{base}: HTTP {response.status_code} {response.text.strip()[:200]}")
                continue
            try:
                listing = response.json()
            except ValueError:
                failures.append(f"{base}: /slaves is not JSON")
                continue
            return listing, urljoin(response.url, "/").rstrip("/")
        raise LogsUnavailable(
            "no Mesos master told where agent " + agent_id + " is: " + "; ".join(failures), transient=True
        )

    def _get(self, url: str) -> requests.Response:
        # Redirects are followed here so that the credentials go along to the leader.
        for _ in range(MAX_REDIRECTS + 1):
            response = self._session().get(url, auth=self._auth, timeout=self._timeout, allow_redirects=False)
            location = response.headers.get("Location")
            if response.status_code not in transport.REDIRECT_STATUSES or not location:
                return response
            response.close()
            url = urljoin(url, location)
        raise requests.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects asking {url}")
