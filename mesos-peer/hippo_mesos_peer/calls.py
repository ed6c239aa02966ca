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
into (health checks, network infos, ...) are accepted as any JSON value; see
:mod:`.schema`.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from hippo_mesos_peer.schema import ANY, ENUMS, MESSAGES, REP, REQ

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
        if value not in ENUMS[kind[5:]]:
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
