"""Turning a request body into a scheduler ``Call`` the way the master does.

The master converts JSON to protobuf with stout's rules and then validates the
call; each step has its own 400 message, reproduced here:

- not JSON: ``Failed to parse body into JSON: ...``;
- JSON that does not fit the ``Call`` message (wrong JSON kind for a field,
  bad base64, a required field missing): ``Failed to convert JSON into Call
  protobuf: ...``; unknown keys and ``null`` values are ignored, an unknown
  name in an optional enum leaves the field unset;
- a call that fits but is incomplete (no ``type``, no ``framework_id``, the
  call's own sub-message missing, an ``ACKNOWLEDGE`` uuid that is not 16 bytes):
  ``Failed to validate scheduler::Call: ...``.

The schema covers the messages Hippo sends; sub-messages the peer never looks
into (containers, health checks, ...) are accepted as any JSON value.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from hippo_core.testing.mesos.protocol import CALL_TYPES

REQ, OPT, REP = "required", "optional", "repeated"
ANY = "any"

_ENUMS: dict[str, frozenset[str]] = {
    "CallType": CALL_TYPES,
    "CapabilityType": frozenset(
        {
            "UNKNOWN",
            "REVOCABLE_RESOURCES",
            "TASK_KILLING_STATE",
            "GPU_RESOURCES",
            "SHARED_RESOURCES",
            "PARTITION_AWARE",
            "MULTI_ROLE",
            "RESERVATION_REFINEMENT",
            "REGION_AWARE",
        }
    ),
    "OperationType": frozenset(
        {
            "UNKNOWN",
            "LAUNCH",
            "LAUNCH_GROUP",
            "RESERVE",
            "UNRESERVE",
            "CREATE",
            "DESTROY",
            "GROW_VOLUME",
            "SHRINK_VOLUME",
            "CREATE_DISK",
            "DESTROY_DISK",
        }
    ),
    "ValueType": frozenset({"SCALAR", "RANGES", "SET", "TEXT"}),
    "ContainerType": frozenset({"DOCKER", "MESOS"}),
    "DockerNetwork": frozenset({"HOST", "BRIDGE", "NONE", "USER"}),
    "VolumeMode": frozenset({"RW", "RO"}),
    "VariableType": frozenset({"UNKNOWN", "VALUE", "SECRET"}),
}

_ID = {"value": ("string", REQ)}

MESSAGES: dict[str, dict[str, tuple[str, str]]] = {
    "Call": {
        "framework_id": ("FrameworkID", OPT),
        "type": ("enum:CallType", OPT),
        "subscribe": ("Subscribe", OPT),
        "accept": ("Accept", OPT),
        "decline": ("Decline", OPT),
        "accept_inverse_offers": (ANY, OPT),
        "decline_inverse_offers": (ANY, OPT),
        "revive": ("Roles", OPT),
        "kill": ("Kill", OPT),
        "shutdown": ("Shutdown", OPT),
        "acknowledge": ("Acknowledge", OPT),
        "acknowledge_operation_status": (ANY, OPT),
        "reconcile": ("Reconcile", OPT),
        "reconcile_operations": (ANY, OPT),
        "message": ("Message", OPT),
        "request": (ANY, OPT),
        "suppress": ("Roles", OPT),
        "update_framework": ("UpdateFramework", OPT),
    },
    "FrameworkID": _ID,
    "OfferID": _ID,
    "TaskID": _ID,
    "AgentID": _ID,
    "ExecutorID": _ID,
    "Subscribe": {
        "framework_info": ("FrameworkInfo", REQ),
        "force": ("bool", OPT),
        "suppressed_roles": ("string", REP),
        "offer_constraints": (ANY, OPT),
    },
    "UpdateFramework": {
        "framework_info": ("FrameworkInfo", REQ),
        "suppressed_roles": ("string", REP),
        "offer_constraints": (ANY, OPT),
    },
    "FrameworkInfo": {
        "user": ("string", REQ),
        "name": ("string", REQ),
        "id": ("FrameworkID", OPT),
        "failover_timeout": ("double", OPT),
        "checkpoint": ("bool", OPT),
        "role": ("string", OPT),
        "roles": ("string", REP),
        "hostname": ("string", OPT),
        "principal": ("string", OPT),
        "webui_url": ("string", OPT),
        "capabilities": ("Capability", REP),
        "labels": (ANY, OPT),
        "offer_filters": (ANY, OPT),
    },
    "Capability": {"type": ("enum:CapabilityType", OPT)},
    "Accept": {
        "offer_ids": ("OfferID", REP),
        "operations": ("Operation", REP),
        "filters": ("Filters", OPT),
    },
    "Decline": {"offer_ids": ("OfferID", REP), "filters": ("Filters", OPT)},
    "Filters": {"refuse_seconds": ("double", OPT)},
    "Operation": {
        "type": ("enum:OperationType", OPT),
        "id": (ANY, OPT),
        "launch": ("Launch", OPT),
        "launch_group": (ANY, OPT),
        "reserve": (ANY, OPT),
        "unreserve": (ANY, OPT),
        "create": (ANY, OPT),
        "destroy": (ANY, OPT),
        "grow_volume": (ANY, OPT),
        "shrink_volume": (ANY, OPT),
        "create_disk": (ANY, OPT),
        "destroy_disk": (ANY, OPT),
    },
    "Launch": {"task_infos": ("TaskInfo", REP)},
    "TaskInfo": {
        "name": ("string", REQ),
        "task_id": ("TaskID", REQ),
        "agent_id": ("AgentID", REQ),
        "resources": ("Resource", REP),
        "executor": ("ExecutorInfo", OPT),
        "command": ("CommandInfo", OPT),
        "container": ("ContainerInfo", OPT),
        "health_check": (ANY, OPT),
        "check": (ANY, OPT),
        "kill_policy": (ANY, OPT),
        "data": ("bytes", OPT),
        "labels": ("Labels", OPT),
        "discovery": (ANY, OPT),
        "max_completion_time": (ANY, OPT),
        "limits": (ANY, OPT),
    },
    "ExecutorInfo": {
        "executor_id": ("ExecutorID", REQ),
        "resources": ("Resource", REP),
        "command": ("CommandInfo", OPT),
        "type": (ANY, OPT),
        "framework_id": ("FrameworkID", OPT),
        "container": ("ContainerInfo", OPT),
        "name": ("string", OPT),
    },
    "CommandInfo": {
        "value": ("string", OPT),
        "shell": ("bool", OPT),
        "arguments": ("string", REP),
        "user": ("string", OPT),
        "environment": ("Environment", OPT),
        "uris": ("URI", REP),
    },
    "Environment": {"variables": ("Variable", REP)},
    "Variable": {
        "name": ("string", REQ),
        "value": ("string", OPT),
        "type": ("enum:VariableType", OPT),
        "secret": (ANY, OPT),
    },
    "URI": {
        "value": ("string", REQ),
        "executable": ("bool", OPT),
        "extract": ("bool", OPT),
        "cache": ("bool", OPT),
        "output_file": ("string", OPT),
    },
    "ContainerInfo": {
        "type": ("enum:ContainerType", REQ),
        "volumes": ("Volume", REP),
        "hostname": ("string", OPT),
        "docker": ("DockerInfo", OPT),
        "mesos": (ANY, OPT),
        "network_infos": (ANY, REP),
        "linux_info": (ANY, OPT),
        "rlimit_info": (ANY, OPT),
        "tty_info": (ANY, OPT),
    },
    "DockerInfo": {
        "image": ("string", REQ),
        "network": ("enum:DockerNetwork", OPT),
        "port_mappings": ("PortMapping", REP),
        "privileged": ("bool", OPT),
        "parameters": ("Parameter", REP),
        "force_pull_image": ("bool", OPT),
        "volume_driver": ("string", OPT),
    },
    "PortMapping": {
        "host_port": ("uint32", REQ),
        "container_port": ("uint32", REQ),
        "protocol": ("string", OPT),
    },
    "Parameter": {"key": ("string", REQ), "value": ("string", REQ)},
    "Volume": {
        "mode": ("enum:VolumeMode", REQ),
        "container_path": ("string", REQ),
        "host_path": ("string", OPT),
        "image": (ANY, OPT),
        "source": (ANY, OPT),
    },
    "Labels": {"labels": ("Label", REP)},
    "Label": {"key": ("string", REQ), "value": ("string", OPT)},
    "Resource": {
        "name": ("string", REQ),
        "type": ("enum:ValueType", REQ),
        "scalar": ("Scalar", OPT),
        "ranges": ("Ranges", OPT),
        "set": ("Set", OPT),
        "role": ("string", OPT),
        "allocation_info": ("AllocationInfo", OPT),
        "reservation": (ANY, OPT),
        "reservations": (ANY, REP),
        "disk": (ANY, OPT),
        "revocable": (ANY, OPT),
        "shared": (ANY, OPT),
        "provider_id": (ANY, OPT),
    },
    "AllocationInfo": {"role": ("string", OPT)},
    "Scalar": {"value": ("double", REQ)},
    "Ranges": {"range": ("Range", REP)},
    "Range": {"begin": ("uint64", REQ), "end": ("uint64", REQ)},
    "Set": {"item": ("string", REP)},
    "Kill": {
        "task_id": ("TaskID", REQ),
        "agent_id": ("AgentID", OPT),
        "kill_policy": (ANY, OPT),
    },
    "Shutdown": {"executor_id": ("ExecutorID", REQ), "agent_id": ("AgentID", REQ)},
    "Acknowledge": {
        "agent_id": ("AgentID", REQ),
        "task_id": ("TaskID", REQ),
        "uuid": ("bytes", REQ),
    },
    "Reconcile": {"tasks": ("ReconcileTask", REP)},
    "ReconcileTask": {"task_id": ("TaskID", REQ), "agent_id": ("AgentID", OPT)},
    "Message": {
        "agent_id": ("AgentID", REQ),
        "executor_id": ("ExecutorID", REQ),
        "data": ("bytes", REQ),
    },
    "Roles": {"roles": ("string", REP)},
}

# The sub-message each call type must carry (validation.cpp).
_CALL_BODY = {
    "ACCEPT": "accept",
    "DECLINE": "decline",
    "ACCEPT_INVERSE_OFFERS": "accept_inverse_offers",
    "DECLINE_INVERSE_OFFERS": "decline_inverse_offers",
    "KILL": "kill",
    "SHUTDOWN": "shutdown",
    "ACKNOWLEDGE": "acknowledge",
    "ACKNOWLEDGE_OPERATION_STATUS": "acknowledge_operation_status",
    "RECONCILE": "reconcile",
    "RECONCILE_OPERATIONS": "reconcile_operations",
    "MESSAGE": "message",
    "REQUEST": "request",
    "UPDATE_FRAMEWORK": "update_framework",
}


class CallRejected(Exception):
    """The master answers the request with ``status`` and ``message`` as the body."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.headers = headers or {}


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def _scalar(kind: str, name: str, value: Any) -> Any:
    """One non-message value, or raise ValueError with stout's wording."""
    json_kind = _json_kind(value)
    if kind == "string" and json_kind == "string":
        return value
    if kind == "bool" and json_kind == "boolean":
        return value
    if kind in ("double", "int64", "uint64", "uint32") and json_kind == "number":
        return float(value) if kind == "double" else int(value)
    if kind == "bytes" and json_kind == "string":
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"Failed to base64 decode bytes field '{name}': {exc}") from exc
    raise ValueError(f"Not expecting a JSON {json_kind} for field '{name}'")


def _parse_field(kind: str, name: str, value: Any, required: bool) -> tuple[bool, Any]:
    """(present, parsed) for one element of a field."""
    if kind == ANY:
        return True, value
    if kind.startswith("enum:"):
        if not isinstance(value, str):
            raise ValueError(f"Not expecting a JSON {_json_kind(value)} for field '{name}'")
        if value not in _ENUMS[kind[5:]]:
            if required:
                raise ValueError(f"Failed to find enum for '{value}'")
            return False, None
        return True, value
    if kind in MESSAGES:
        if not isinstance(value, dict):
            raise ValueError(f"Not expecting a JSON {_json_kind(value)} for field '{name}'")
        return True, _parse_object(kind, value)
    return True, _scalar(kind, name, value)


def _parse_object(message: str, obj: dict[str, Any]) -> dict[str, Any]:
    fields = MESSAGES[message]
    out: dict[str, Any] = {}
    for name, value in obj.items():
        if name not in fields or value is None:
            continue
        kind, label = fields[name]
        if isinstance(value, list):
            if label != REP:
                raise ValueError(f"Not expecting a JSON array for field '{name}'")
            items = [_parse_field(kind, name, item, False) for item in value if item is not None]
            out[name] = out.get(name, []) + [parsed for present, parsed in items if present]
            continue
        present, parsed = _parse_field(kind, name, value, label == REQ)
        if present:
            out[name] = [*out.get(name, []), parsed] if label == REP else parsed
    return out


def _missing(message: str, parsed: dict[str, Any], prefix: str) -> list[str]:
    """Paths of unset required fields, like protobuf's InitializationErrorString."""
    missing: list[str] = []
    for name, (kind, label) in MESSAGES[message].items():
        if label == REQ and name not in parsed:
            missing.append(prefix + name)
        if kind not in MESSAGES or name not in parsed:
            continue
        if label == REP:
            for index, item in enumerate(parsed[name]):
                missing.extend(_missing(kind, item, f"{prefix}{name}[{index}]."))
        else:
            missing.extend(_missing(kind, parsed[name], f"{prefix}{name}."))
    return missing


def load_json(body: bytes) -> Any:
    """The request body as JSON, or CallRejected(400)."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CallRejected(400, f"Failed to parse body into JSON: {exc}") from exc


def to_call(raw: Any) -> dict[str, Any]:
    """The ``Call`` a JSON value converts to, or CallRejected(400)."""
    if not isinstance(raw, dict):
        raise CallRejected(400, "Failed to convert JSON into Call protobuf: Expecting a JSON object")
    try:
        call = _parse_object("Call", raw)
    except ValueError as exc:
        raise CallRejected(400, f"Failed to convert JSON into Call protobuf: {exc}") from exc
    missing = _missing("Call", call, "")
    if missing:
        raise CallRejected(
            400,
            "Failed to convert JSON into Call protobuf: Missing required fields: " + ", ".join(missing),
        )
    return call


def validate_call(call: dict[str, Any]) -> None:
    """``validation::scheduler::call::validate``: CallRejected(400) when it fails."""

    def reject(reason: str) -> CallRejected:
        return CallRejected(400, f"Failed to validate scheduler::Call: {reason}")

    call_type = call.get("type")
    if call_type is None:
        raise reject("Expecting 'type' to be present")
    if call_type == "SUBSCRIBE":
        if "subscribe" not in call:
            raise reject("Expecting 'subscribe' to be present")
        info_id = call["subscribe"]["framework_info"].get("id")
        if info_id != call.get("framework_id"):
            raise reject("'framework_id' differs from 'subscribe.framework_info.id'")
        return
    if "framework_id" not in call:
        raise reject("Expecting 'framework_id' to be present")
    body = _CALL_BODY.get(call_type)
    if body is not None and body not in call:
        raise reject(f"Expecting '{body}' to be present")
    if call_type == "ACKNOWLEDGE" and len(call["acknowledge"]["uuid"]) != 16:
        raise reject("Not a valid UUID")
    update = call.get("update_framework")
    if call_type == "UPDATE_FRAMEWORK" and update["framework_info"].get("id") != call["framework_id"]:
        raise reject("'framework_id' differs from 'update_framework.framework_info.id'")
