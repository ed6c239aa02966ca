"""What a handler of the peer answers: a status, headers, a body, or an event stream."""

from __future__ import annotations

from dataclasses import dataclass, field

from hippo_mesos_peer.frameworks import EventStream

JSON = "application/json"
PROTOBUF = "application/x-protobuf"


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: EventStream | None = None
