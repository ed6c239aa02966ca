"""The simulated cluster: agents, their attributes, outstanding offers and offer filters."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hippo_mesos_peer.clock import Timer
from hippo_mesos_peer.resources import Resources

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

    def __post_init__(self) -> None:
        spec = self.spec
        self.total = Resources.of(spec.cpus, spec.mem, spec.disk, tuple(spec.ports))
        self.attributes = [attribute_json(k, v) for k, v in spec.attributes.items()]

    @property
    def hostname(self) -> str:
        return self.spec.hostname

    @property
    def available(self) -> Resources:
        return self.total - self.used - self.offered

    def url(self) -> dict[str, Any]:
        port = 5051 + self.index
        return {
            "scheme": "http",
            "address": {"hostname": self.hostname, "ip": "127.0.0.1", "port": port},
            "path": f"/slave({self.index + 1})",
        }


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
