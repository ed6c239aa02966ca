"""Frameworks: subscription, event streams, heartbeats, failover and removal.

Follows ``Master::subscribe``/``_subscribe``, ``failoverFramework``,
``_exited``, ``frameworkFailoverTimeout`` and ``removeFramework``: a refused
subscription still answers 200 with a stream holding one ERROR event; a second
subscription with the same id sends ERROR "Framework failed over" to the first
stream and closes it; a framework whose stream breaks is disconnected and is
removed (its tasks killed) unless it resubscribes within its failover timeout.
"""

from __future__ import annotations

import math
import queue
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from hippo_mesos_peer.clock import Timer
from hippo_mesos_peer.protocol import (
    event_error,
    event_heartbeat,
    event_subscribed,
    master_info,
    recordio,
)
from hippo_mesos_peer.rules import id_error

END = object()  # close the stream the way the master does: final chunk
ABORT = object()  # break the connection: no final chunk


class EventStream:
    """The events of one SUBSCRIBE response, queued for the thread that writes them."""

    def __init__(self) -> None:
        self.stream_id = str(uuid.uuid4())
        self.closed = False
        self._queue: queue.Queue[Any] = queue.Queue()

    def send(self, event: dict[str, Any]) -> bool:
        if self.closed:
            return False
        self._queue.put(recordio(event))
        return True

    def close(self, *, abrupt: bool) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put(ABORT if abrupt else END)

    def next(self, timeout: float) -> Any:
        """A record, END, ABORT, or None when nothing came within ``timeout``."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def ready(self) -> list[Any]:
        """Whatever is queued already (records, possibly ending in END or ABORT), without waiting.

        Written together, a burst of events costs the writer one write instead of one each.
        """
        items: list[Any] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return items
            items.append(item)
            if item is END or item is ABORT:
                return items


@dataclass
class SimFramework:
    """A framework as the master knows it (``FrameworkInfo`` in ``info``)."""

    framework_id: str
    info: dict[str, Any]
    connected: bool = False
    active: bool = False
    recovered: bool = False
    removed: bool = False
    failover_timeout: float = 0.0
    suppressed_roles: set[str] = field(default_factory=set)
    stream: EventStream | None = None
    registered_time: float = field(default_factory=time.time)
    reregistered_time: float = field(default_factory=time.time)
    subscriptions: int = 0
    offer_ids: set[str] = field(default_factory=set)
    failover_timer: Timer | None = field(default=None, repr=False)
    heartbeat_timer: Timer | None = field(default=None, repr=False)

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(c.get("type") for c in self.info.get("capabilities", []) if "type" in c)

    @property
    def partition_aware(self) -> bool:
        return "PARTITION_AWARE" in self.capabilities

    @property
    def multi_role(self) -> bool:
        return "MULTI_ROLE" in self.capabilities

    @property
    def roles(self) -> tuple[str, ...]:
        if self.multi_role:
            return tuple(self.info.get("roles", []))
        return (self.info.get("role", "*"),)

    @property
    def stream_id(self) -> str | None:
        return self.stream.stream_id if self.stream is not None else None


def _role_error(role: str) -> str | None:
    """A subset of ``roles::validate``."""
    if role == "*":
        return None
    if not role:
        return "Empty role name is invalid"
    if role in (".", "..") or any(part in (".", "..", "", "*") for part in role.split("/")):
        return f"Role '{role}' cannot contain '.', '..', '*' or empty path components"
    if role.startswith("-"):
        return f"Role '{role}' cannot start with '-'"
    if any(ch.isspace() or not ch.isprintable() for ch in role):
        return f"Role '{role}' cannot contain whitespace or control characters"
    return None


def framework_info_error(info: dict[str, Any], suppressed: list[str]) -> str | None:
    """``validateFramework`` + ``createAllocatorFrameworkOptions`` for one FrameworkInfo."""
    caps = {c.get("type") for c in info.get("capabilities", [])}
    roles = info.get("roles", [])
    if "MULTI_ROLE" in caps:
        if "role" in info:
            return "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
        duplicates = sorted({r for r in roles if roles.count(r) > 1})
        if duplicates:
            return f"'FrameworkInfo.roles' contains duplicate items: {{ {', '.join(duplicates)} }}"
        for role in roles:
            problem = _role_error(role)
            if problem:
                return f"'FrameworkInfo.roles' contains invalid role: {problem}"
        valid_roles = set(roles)
    else:
        if roles:
            return "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
        problem = _role_error(info.get("role", "*"))
        if problem:
            return f"'FrameworkInfo.role' is not a valid role: {problem}"
        valid_roles = {info.get("role", "*")}
    framework_id = info.get("id", {}).get("value", "")
    if framework_id and id_error(framework_id):
        return id_error(framework_id)
    timeout = info.get("failover_timeout", 0.0)
    if not math.isfinite(timeout) or abs(timeout) * 1e9 >= 2**63:
        return f"The framework failover_timeout ({timeout}) is invalid"
    for role in suppressed:
        if role not in valid_roles:
            return f"Suppressed role '{role}' is not contained in the list of roles"
    return None


class FrameworksMixin:
    """Subscription and framework lifecycle; mixed into :class:`Master`."""

    def subscribe(self, call: dict[str, Any]) -> EventStream:
        stream = EventStream()
        subscribe = call["subscribe"]
        info = dict(subscribe["framework_info"])
        suppressed = list(subscribe.get("suppressed_roles", []))
        framework_id = info.get("id", {}).get("value", "")
        error = framework_info_error(info, suppressed)
        if error is None and info["user"] == "root" and not self.root_submissions:
            error = "User 'root' is not allowed to run frameworks without --root_submissions set"
        if error is None and framework_id in self.removed_frameworks:
            error = "Framework has been removed"
        if error is None and framework_id:
            error = self._resubscribe_error(framework_id, info)
        if error is not None:
            stream.send(event_error(error))
            stream.close(abrupt=False)
            return stream
        if not framework_id:
            framework_id = self._new_framework_id()
            info["id"] = {"value": framework_id}
        framework = self.frameworks.get(framework_id)
        if framework is None:
            # First subscription, or the first after a master failover (recoverFramework).
            framework = SimFramework(framework_id, info)
            self.frameworks[framework_id] = framework
        elif framework.connected:
            # A newer scheduler instance takes over; the old one is told and cut off.
            self._send(framework, event_error("Framework failed over"))
            self._disconnect(framework, abrupt=False)
        self._connect(framework, info, suppressed, stream)
        return stream

    def _resubscribe_error(self, framework_id: str, info: dict[str, Any]) -> str | None:
        framework = self.frameworks.get(framework_id)
        if framework is None:
            return None
        if framework.info.get("principal") != info.get("principal"):
            return "Changing framework's principal is not allowed."
        # user and checkpoint cannot change on resubscription; the new values are ignored.
        info["user"] = framework.info["user"]
        if "checkpoint" in framework.info:
            info["checkpoint"] = framework.info["checkpoint"]
        else:
            info.pop("checkpoint", None)
        return None

    def _connect(
        self,
        framework: SimFramework,
        info: dict[str, Any],
        suppressed: list[str],
        stream: EventStream,
    ) -> None:
        if framework.failover_timer is not None:
            framework.failover_timer.cancel()
            framework.failover_timer = None
        framework.info = info
        self.agent_framework_infos[framework.framework_id] = info
        framework.suppressed_roles = set(suppressed)
        framework.failover_timeout = float(info.get("failover_timeout", 0.0))
        framework.connected = framework.active = True
        framework.recovered = False
        framework.stream = stream
        framework.subscriptions += 1
        framework.reregistered_time = time.time()
        # Offers of an earlier connection are dropped silently (no RESCIND) and made anew.
        self._discard_framework_offers(framework)
        stream.send(
            event_subscribed(
                framework.framework_id,
                self.heartbeat_interval,
                master_info(self.master_id, self.host, self.port),
            )
        )
        self._heartbeat(framework, stream)
        self._allocate_soon()

    def _heartbeat(self, framework: SimFramework, stream: EventStream) -> None:
        if framework.stream is not stream or stream.closed:
            return
        self._send(framework, event_heartbeat())
        framework.heartbeat_timer = self.clock.call_later(
            self.heartbeat_interval, self._heartbeat, framework, stream
        )

    def _disconnect(self, framework: SimFramework, *, abrupt: bool) -> None:
        """Close the framework's stream and mark it disconnected and inactive."""
        if framework.stream is not None:
            framework.stream.close(abrupt=abrupt)
        if framework.heartbeat_timer is not None:
            framework.heartbeat_timer.cancel()
            framework.heartbeat_timer = None
        framework.connected = framework.active = False
        self._rescind_framework_offers(framework)

    def stream_closed(self, stream: EventStream) -> None:
        """The subscription connection broke (``Master::exited``); called by the HTTP side."""
        with self.lock:
            for framework in self.frameworks.values():
                if framework.stream is stream and framework.connected:
                    self._exited(framework, abrupt=True)
                    return

    def _exited(self, framework: SimFramework, *, abrupt: bool) -> None:
        self._disconnect(framework, abrupt=abrupt)
        timeout = framework.failover_timeout
        if self.failover_timeout_cap is not None:
            timeout = min(timeout, self.failover_timeout_cap)
        framework.failover_timer = self.clock.call_later(
            timeout, self._failover_timeout, framework, framework.reregistered_time
        )

    def _failover_timeout(self, framework: SimFramework, reregistered_time: float) -> None:
        current = self.frameworks.get(framework.framework_id)
        # A framework that resubscribed (and maybe dropped again) since has a newer timer.
        still_gone = current is framework and not framework.connected
        if still_gone and framework.reregistered_time == reregistered_time:
            self.remove_framework(framework)

    def remove_framework(self, framework: SimFramework) -> None:
        """TEARDOWN or failover timeout: kill its tasks, forget it for good."""
        if framework.connected:
            self._disconnect(framework, abrupt=False)
        if framework.failover_timer is not None:
            framework.failover_timer.cancel()
        self._discard_framework_offers(framework)
        self._shutdown_framework_tasks(framework)
        for key in [k for k in self.filters if k[0] == framework.framework_id]:
            del self.filters[key]
        framework.removed = True
        del self.frameworks[framework.framework_id]
        self.removed_frameworks[framework.framework_id] = framework
