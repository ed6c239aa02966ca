"""Wire shapes of the v1 scheduler API: task states, events, status updates, RecordIO.

Everything here builds plain dicts in the JSON form the Mesos master writes
(protobuf field names, enums as their names, ``bytes`` as base64, IDs as
``{"value": ...}``), so the rest of the peer never formats JSON by hand.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

SCHEDULER_PATHS = frozenset({"/api/v1/scheduler", "/master/api/v1/scheduler"})
MESOS_VERSION = "1.11.0"

TERMINAL_STATES = frozenset(
    {
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_ERROR",
        "TASK_LOST",
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
    }
)
TASK_STATES = TERMINAL_STATES | {
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_UNREACHABLE",
    "TASK_UNKNOWN",
}

# Reasons only the master writes; updates carrying them are never retried (no uuid).
MASTER_REASONS = frozenset(
    {
        "REASON_AGENT_DISCONNECTED",
        "REASON_AGENT_REMOVED",
        "REASON_AGENT_REMOVED_BY_OPERATOR",
        "REASON_AGENT_REREGISTERED",
        "REASON_FRAMEWORK_REMOVED",
        "REASON_INVALID_OFFERS",
        "REASON_RECONCILIATION",
        "REASON_RESOURCES_UNKNOWN",
        "REASON_TASK_GROUP_INVALID",
        "REASON_TASK_GROUP_UNAUTHORIZED",
    }
)

CALL_TYPES = frozenset(
    {
        "UNKNOWN",
        "SUBSCRIBE",
        "TEARDOWN",
        "ACCEPT",
        "DECLINE",
        "ACCEPT_INVERSE_OFFERS",
        "DECLINE_INVERSE_OFFERS",
        "REVIVE",
        "KILL",
        "SHUTDOWN",
        "ACKNOWLEDGE",
        "ACKNOWLEDGE_OPERATION_STATUS",
        "RECONCILE",
        "RECONCILE_OPERATIONS",
        "MESSAGE",
        "REQUEST",
        "SUPPRESS",
        "UPDATE_FRAMEWORK",
    }
)


def is_terminal(state: str) -> bool:
    return state in TERMINAL_STATES


def ident(value: str) -> dict[str, str]:
    """An ``XxxID`` message."""
    return {"value": value}


def new_uuid_bytes() -> bytes:
    return uuid.uuid4().bytes


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def time_info(seconds: float) -> dict[str, int]:
    """A ``TimeInfo`` message."""
    return {"nanoseconds": int(seconds * 1_000_000_000)}


def task_status(
    *,
    task_id: str,
    state: str,
    source: str,
    agent_id: str | None,
    reason: str | None = None,
    message: str | None = None,
    executor_id: str | None = None,
    uuid_bytes: bytes | None = None,
    unreachable_time: float | None = None,
    timestamp: float | None = None,
) -> dict[str, Any]:
    """A ``TaskStatus`` as the master forwards it; keys without a value are left out."""
    status: dict[str, Any] = {"task_id": ident(task_id), "state": state, "source": source}
    if agent_id is not None:
        status["agent_id"] = ident(agent_id)
    if executor_id is not None:
        status["executor_id"] = ident(executor_id)
    if reason is not None:
        status["reason"] = reason
    if message is not None:
        status["message"] = message
    status["timestamp"] = time.time() if timestamp is None else timestamp
    if uuid_bytes is not None:
        status["uuid"] = b64(uuid_bytes)
    if unreachable_time is not None:
        status["unreachable_time"] = time_info(unreachable_time)
    return status


def event_subscribed(
    framework_id: str, heartbeat_interval: float, master_info: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": "SUBSCRIBED",
        "subscribed": {
            "framework_id": ident(framework_id),
            "heartbeat_interval_seconds": float(heartbeat_interval),
            "master_info": master_info,
        },
    }


def event_heartbeat() -> dict[str, Any]:
    return {"type": "HEARTBEAT"}


def event_offers(offers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "OFFERS", "offers": {"offers": offers}}


def event_rescind(offer_id: str) -> dict[str, Any]:
    return {"type": "RESCIND", "rescind": {"offer_id": ident(offer_id)}}


def event_update(status: dict[str, Any]) -> dict[str, Any]:
    return {"type": "UPDATE", "update": {"status": status}}


def event_failure(agent_id: str) -> dict[str, Any]:
    return {"type": "FAILURE", "failure": {"agent_id": ident(agent_id)}}


def event_error(message: str) -> dict[str, Any]:
    return {"type": "ERROR", "error": {"message": message}}


def recordio(event: dict[str, Any]) -> bytes:
    """One RecordIO record: the byte length in decimal, a newline, the JSON."""
    data = json.dumps(event, separators=(",", ":")).encode("utf-8")
    return str(len(data)).encode("ascii") + b"\n" + data


def master_info(master_id: str, host: str, port: int) -> dict[str, Any]:
    """``MasterInfo`` as sent in SUBSCRIBED (``ip`` is the IPv4 address in network order)."""
    octets = [int(part) for part in host.split(".")] if host.count(".") == 3 else [127, 0, 0, 1]
    packed = octets[0] | octets[1] << 8 | octets[2] << 16 | octets[3] << 24
    return {
        "id": master_id,
        "ip": packed,
        "port": port,
        "pid": f"master@{host}:{port}",
        "hostname": host,
        "version": MESOS_VERSION,
        "address": {"hostname": host, "ip": host, "port": port},
    }
