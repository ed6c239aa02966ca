"""The simulated cluster: agents, their attributes, outstanding offers and offer filters."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from hippo_mesos_peer.clock import Timer
from hippo_mesos_peer.resources import Resources
from hippo_mesos_peer.sandbox import Attachments

WORK_DIR = "/var/lib/mesos"

# Where the master knows an agent to be (the registry's lists, plus "recovering":
# admitted before a master failover and not reregistered since).
REGISTERED = "REGISTERED"
RECOVERING = "RECOVERING"
UNREACHABLE = "UNREACHABLE"
GONE = "GONE"

_RANGES = re.compile(r"^\[\s*\d+\s*-\s*\d+\s*(,\s*\d+\s*-\s*\d+\s*)*\]$")


@dataclass
class SimAgent:
    """An agent to simulate. ``attributes`` values follow ``mesos-agent --attributes``:
    numbers (or text that parses as one) become SCALAR, ``[a-b,c-d]`` RANGES, the rest
    TEXT. ``ports`` is what the agent offers as the ``ports`` resource (the
    agent's default range unless given)."""

    hostname: str
    cpus: float = 4.0
    mem: float = 8192.0
    disk: float = 10000.0
    attributes: dict[str, str | float | int] = field(default_factory=dict)
    agent_id: str | None = None
    ports: tuple[tuple[int, int], ...] = ((31000, 32000),)


def attribute_json(name: str, value: str | float | int) -> dict[str, Any]:
    """One ``Attribute`` message, typed the way the agent parses ``--attributes``."""
    if isinstance(value, bool):
        raise TypeError(f"attribute {name!r}: booleans are not a Mesos attribute type")
    if isinstance(value, (int, float)):
        return {"name": name, "type": "SCALAR", "scalar": {"value": float(value)}}
    text = str(value)
    try:
        return {"name": name, "type": "SCALAR", "scalar": {"value": float(text)}}
    except ValueError:
        pass
    if _RANGES.match(text):
        spans = []
        for part in text.strip("[]").split(","):
            begin, end = (int(x) for x in part.split("-"))
            spans.append({"begin": begin, "end": end})
        return {"name": name, "type": "RANGES", "ranges": {"range": spans}}
    return {"name": name, "type": "TEXT", "text": {"value": text}}


@dataclass
class AgentRecord:
    """The master's (and the agent's) view of one agent."""

    spec: SimAgent
    agent_id: str
    index: int
    status: str = REGISTERED
    unreachable_since: float | None = None
    used: Resources = field(default_factory=Resources)
    offered: Resources = field(default_factory=Resources)
    total: Resources = field(init=False)
    attributes: list[dict[str, Any]] = field(init=False)
    # Where the agent's own HTTP API (files, state) answers; set when the peer starts it.
    ip: str = "127.0.0.1"
    port: int = 0
    registered_time: float = field(default_factory=time.time)
    sandboxes: Attachments = field(init=False)

    def __post_init__(self) -> None:
        spec = self.spec
        self.total = Resources.of(spec.cpus, spec.mem, spec.disk, tuple(spec.ports))
        self.attributes = [attribute_json(k, v) for k, v in spec.attributes.items()]
        self.sandboxes = Attachments(WORK_DIR, self.agent_id)

    @property
    def pid(self) -> str:
        return f"slave(1)@{self.ip}:{self.port}"

    def agent_info_json(self) -> dict[str, Any]:
        """``SlaveInfo`` as the master's endpoints write it (attributes as a name -> value object)."""
        attributes: dict[str, Any] = {}
        for attribute in self.attributes:
            kind = attribute["type"]
            if kind == "SCALAR":
                attributes[attribute["name"]] = attribute["scalar"]["value"]
            elif kind == "RANGES":
                spans = attribute["ranges"]["range"]
                attributes[attribute["name"]] = (
                    "[" + ", ".join(f"{r['begin']}-{r['end']}" for r in spans) + "]"
                )
            else:
                attributes[attribute["name"]] = attribute["text"]["value"]
        return {"id": self.agent_id, "hostname": self.hostname, "port": self.port, "attributes": attributes}

    def slave_json(self) -> dict[str, Any]:
        """One entry of the master's ``/slaves``: the agent's info, ``pid``, resources, ``active``."""
        return {
            **self.agent_info_json(),
            "pid": self.pid,
            "registered_time": self.registered_time,
            "resources": _resources_object(self.total),
            "used_resources": _resources_object(self.used),
            "offered_resources": _resources_object(self.offered),
            "active": True,
            "deactivated": False,
            "version": "1.11.0",
            "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
        }

    @property
    def hostname(self) -> str:
        return self.spec.hostname

    @property
    def available(self) -> Resources:
        return self.total - self.used - self.offered

    def url(self) -> dict[str, Any]:
        return {
            "scheme": "http",
            "address": {"hostname": self.hostname, "ip": self.ip, "port": self.port},
            "path": "/slave(1)",
        }


def _resources_object(resources: Resources) -> dict[str, Any]:
    """Resources as the master's JSON endpoints write them: scalars as numbers, ranges as text."""
    out: dict[str, Any] = {name: resources.scalar(name) for name in ("cpus", "mem", "disk")}
    for name, spans in resources.ranges.items():
        out[name] = "[" + ", ".join(f"{b}-{e}" for b, e in spans) + "]"
    return out


@dataclass
class OfferRecord:
    offer_id: str
    framework_id: str
    agent_id: str
    role: str
    resources: Resources
    timeout: Timer | None = None


@dataclass
class OfferFilter:
    """``refuse_seconds`` at work: resources of one agent a framework turned down."""

    refused: Resources
    expires: float
