"""Turning a request body into a scheduler ``Call`` the way the master does.

The master converts JSON to protobuf with stout's rules and then validates the
call; each step has its own 400 message, reproduced here:

- not JSON (``NaN`` and ``Infinity`` literals included): ``Failed to parse body
  into JSON: ...``;
- JSON that does not fit the ``Call`` message (wrong JSON kind for a field,
  bad base64, a required field missing): ``Failed to convert JSON into Call
  protobuf: ...``; unknown keys and ``null`` values are ignored, an unknown
  name in an optional enum leaves the field unset, a single value is taken for
  a repeated field, and, as stout allows, numbers and booleans may be sent as
  JSON strings (``"0.5"``, ``"true"``) and integers are truncated (``1.9`` is 1);
- a call that fits but is incomplete (no ``type``, no ``framework_id``, the
  call's own sub-message missing, an ``ACKNOWLEDGE`` uuid that is not a UUID,
  i.e. not 16 bytes or of no known version), or a SUBSCRIBE whose
  ``FrameworkInfo.principal`` is not the authenticated one:
  ``Failed to validate scheduler::Call: ...``.

The schema covers the messages Hippo sends; sub-messages the peer never looks
into (health checks, network infos, ...) are accepted as any JSON value; see
:mod:`.schema`.
"""

from __future__ import annotations

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


def _no_constants(name: str) -> Any:
    # Python's json reads NaN and Infinity; the master's JSON parser does not.
    raise ValueError(f"invalid JSON value {name}")


def _strict_json(text: str) -> Any:
    return json.loads(text, parse_constant=_no_constants)


_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BASE64_INDEX = {c: i for i, c in enumerate(_BASE64)}


def stout_base64_decode(text: str) -> bytes:
    """Standard base64 as stout decodes it: whitespace skipped, everything from the first
    ``=`` ignored (padding is never checked), any other character outside the alphabet
    refused (so the URL-safe ``-`` and ``_`` are)."""
    bits = 0
    count = 0
    out = bytearray()
    for ch in text:
        if ch == "=":
            break
        if ch in " \t\n\v\f\r":
            continue
        if ch not in _BASE64_INDEX:
            raise ValueError(f"Invalid character '{ch}'")
        bits = (bits << 6) | _BASE64_INDEX[ch]
        count += 6
        if count >= 8:
            count -= 8
            out.append((bits >> count) & 0xFF)
    return bytes(out)


_INT_BITS = {"int32": (32, True), "int64": (64, True), "uint32": (32, False), "uint64": (64, False)}


def _to_int(kind: str, number: int | float) -> int:
    """A JSON number cast to a protobuf integer the way stout does: fractions dropped,
    out-of-range values wrapped (C++ ``static_cast``)."""
    bits, signed = _INT_BITS[kind]
    value = int(number) % (1 << bits)
    if signed and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def _number_from_string(name: str, text: str) -> int | float:
    try:
        value = _strict_json(text)
    except ValueError as exc:
        raise ValueError(f"Failed to parse '{text}' as a JSON number for field '{name}': {exc}") from exc
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"Failed to parse '{text}' as a JSON number for field '{name}': "
            f"expected a number, found {_json_kind(value)}"
        )
    return value


def _scalar(kind: str, name: str, value: Any) -> Any:
    """One non-message value, or raise ValueError with stout's wording.

    Like stout, numbers and booleans may come as JSON strings (``"5"``, ``"true"``,
    ``"Infinity"`` for floating point), and numbers for integer fields are truncated.
    """
    json_kind = _json_kind(value)
    if json_kind == "string":
        if kind == "string":
            return value
        if kind == "bytes":
            try:
                return stout_base64_decode(value)
            except ValueError as exc:
                raise ValueError(f"Failed to base64 decode bytes field '{name}': {exc}") from exc
        if kind == "double":
            if value in ("Infinity", "-Infinity"):
                return float(value.replace("Infinity", "inf"))
            return float(_number_from_string(name, value))
        if kind in _INT_BITS:
            return _to_int(kind, _number_from_string(name, value))
        if kind == "bool":
            try:
                parsed = _strict_json(value)
            except ValueError as exc:
                raise ValueError(
                    f"Failed to parse '{value}' as a JSON boolean for field '{name}': {exc}"
                ) from exc
            if not isinstance(parsed, bool):
                raise ValueError(
                    f"Failed to parse '{value}' as a JSON boolean for field '{name}': "
                    f"expected a boolean, found {_json_kind(parsed)}"
                )
            return parsed
    elif json_kind == "number":
        if kind == "double":
            return float(value)
        if kind in _INT_BITS:
            return _to_int(kind, value)
    elif json_kind == "boolean" and kind == "bool":
        return value
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
        return _strict_json(body.decode("utf-8"))
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


def principal_mismatch(authenticated: str, declared: str) -> str:
    return (
        f"Authenticated principal '{authenticated}' does not match principal '{declared}' "
        "set in `FrameworkInfo`"
    )


def is_valid_uuid(raw: bytes) -> bool:
    """``UUID::fromBytes``: 16 bytes whose version nibble is one Boost knows (1 to 5)."""
    return len(raw) == 16 and 1 <= raw[6] >> 4 <= 5


def validate_call(call: dict[str, Any], principal: str | None = None) -> None:
    """``validation::scheduler::call::validate``: CallRejected(400) when it fails."""

    def reject(reason: str) -> CallRejected:
        return CallRejected(400, f"Failed to validate scheduler::Call: {reason}")

    call_type = call.get("type")
    if call_type is None:
        raise reject("Expecting 'type' to be present")
    if call_type == "SUBSCRIBE":
        if "subscribe" not in call:
            raise reject("Expecting 'subscribe' to be present")
        info = call["subscribe"]["framework_info"]
        if info.get("id") != call.get("framework_id"):
            raise reject("'framework_id' differs from 'subscribe.framework_info.id'")
        if principal is not None and "principal" in info and info["principal"] != principal:
            raise reject(principal_mismatch(principal, info["principal"]))
        return
    if "framework_id" not in call:
        raise reject("Expecting 'framework_id' to be present")
    body = _CALL_BODY.get(call_type)
    if body is not None and body not in call:
        raise reject(f"Expecting '{body}' to be present")
    if call_type == "ACKNOWLEDGE" and not is_valid_uuid(call["acknowledge"]["uuid"]):
        raise reject("Not a valid UUID")
    update = call.get("update_framework")
    if call_type == "UPDATE_FRAMEWORK" and update["framework_info"].get("id") != call["framework_id"]:
        raise reject("'framework_id' differs from 'update_framework.framework_info.id'")
