"""Validate documents against Hippo's JSON schemas: every error at once, defaults filled.

Read-only fields (``"readOnly": true``) are dropped from input first, so a record that
was read from the API can be sent back as an update unchanged.
"""

from __future__ import annotations

import copy
import difflib
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from hippo_core.echo import clip, quoting_briefly, short_repr
from hippo_core.errors import FieldError, ValidationFailed

SECRET_KEY = "x-hippo-secret"
# On a schema: what to say when the value fails it (on a "not": when the value matches it).
MESSAGE_KEY = "x-hippo-message"
# Unknown fields that get a "did you mean" hint; the rest only their name.
HINTED = 20


def strip_read_only(schema: dict[str, Any], doc: Any) -> Any:
    """A copy of ``doc`` without the fields the schema marks read-only."""
    if not isinstance(doc, dict) or "properties" not in schema:
        return doc
    props = schema["properties"]
    out = {}
    for key, value in doc.items():
        sub = props.get(key)
        if sub is not None and sub.get("readOnly"):
            continue
        out[key] = strip_read_only(sub, value) if sub is not None else value
    return out


def complete(schema: dict[str, Any], doc: Any) -> Any:
    """Fill absent properties from their ``default`` and make integers ints, in place.

    JSON Schema counts ``2.0`` as an integer; the code that later does ``range(...,
    batch_size)`` does not, so a valid document leaves here with real ints.
    """
    if isinstance(doc, dict):
        for key, sub in schema.get("properties", {}).items():
            if key not in doc and "default" in sub:
                doc[key] = copy.deepcopy(sub["default"])
            if key in doc:
                doc[key] = complete(sub, doc[key])
    elif isinstance(doc, list) and isinstance(schema.get("items"), dict):
        doc[:] = [complete(schema["items"], item) for item in doc]
    elif isinstance(doc, float) and doc.is_integer() and _says_integer(schema):
        return int(doc)
    return doc


def _says_integer(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "integer" or (isinstance(kind, list) and "integer" in kind and "number" not in kind)


def _field_errors(error: ValidationError) -> list[FieldError]:
    path = error.json_path
    if error.validator == "required" and isinstance(error.instance, dict):
        required = error.validator_value if isinstance(error.validator_value, list) else []
        missing = [name for name in required if name not in error.instance]
        return [FieldError(f"{path}.{name}", "is required") for name in missing]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        # Read-only fields are dropped from input anyway: suggesting one would mislead.
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = [k for k, v in schema.get("properties", {}).items() if not v.get("readOnly")]
        extras = [k for k in error.instance if k not in known]
        out = []
        for n, name in enumerate(extras):
            # Hints for as many as an answer lists: a flood of unknown names costs no more.
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6) if n < HINTED else []
            hint = f"; did you mean {close[0]!r}?" if close else f"; known fields: {', '.join(known)}"
            out.append(FieldError(f"{path}.{clip(name, 60)}", f"unknown field{hint}"))
        return out
    if error.validator == "not" and isinstance(error.validator_value, dict):
        message = error.validator_value.get(MESSAGE_KEY)
        if message:
            return [FieldError(path, message)]
    if isinstance(error.schema, dict) and error.schema.get(MESSAGE_KEY) and error.validator != "not":
        # Said in words: a long pattern is no message, and the value may hold a password.
        return [FieldError(path, error.schema[MESSAGE_KEY])]
    if error.validator == "pattern" and error.validator_value == "^[^\\u0000]*$":
        return [FieldError(path, "must not contain a NUL character")]
    if error.validator == "propertyNames":
        return [FieldError(path, f"invalid name {short_repr(error.instance)}: {clip(error.message, 400)}")]
    if isinstance(error.schema, dict) and error.schema.get(SECRET_KEY):
        # The default message quotes the value, which must never be echoed for a secret.
        return [FieldError(path, f"invalid value (fails {error.validator} {error.validator_value!r})")]
    return [FieldError(path, quoting_briefly(error.message, error.instance))]


def oversized(schema: dict[str, Any], doc: Any, path: str = "$") -> list[FieldError]:
    """Arrays, objects and strings of ``doc`` larger than ``schema`` allows (``maxItems``,
    ``maxProperties``, ``maxLength``), found without validating what they hold.

    Checked first, so that a body of 150,000 constraints costs one ``len``, not 150,000
    validations and as many errors. Follows the schema, so it recurses no deeper than it.
    """
    if isinstance(doc, str):
        limit = schema.get("maxLength")
        if isinstance(limit, int) and len(doc) > limit:
            return [FieldError(path, f"is {len(doc)} characters long; at most {limit} are allowed")]
        return []
    if isinstance(doc, list):
        # A tuple (prefixItems) is short whatever it holds; its own checks word its errors better.
        limit = None if "prefixItems" in schema else schema.get("maxItems")
        if isinstance(limit, int) and len(doc) > limit:
            return [FieldError(path, f"has {len(doc)} items; at most {limit} are allowed")]
        items = schema.get("items")
        prefix = schema.get("prefixItems") or []
        found = []
        for n, item in enumerate(doc):
            sub = prefix[n] if n < len(prefix) else items
            if isinstance(sub, dict):
                found.extend(oversized(sub, item, f"{path}[{n}]"))
        return found
    if isinstance(doc, dict):
        limit = schema.get("maxProperties")
        if isinstance(limit, int) and len(doc) > limit:
            return [FieldError(path, f"has {len(doc)} entries; at most {limit} are allowed")]
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        found = []
        for key, value in doc.items():
            sub = props.get(key, extra)
            if isinstance(sub, dict) and isinstance(key, str):
                found.extend(oversized(sub, value, f"{path}.{clip(key, 60)}"))
        return found
    return []


def check(schema: dict[str, Any], doc: Any, validator: Any = None) -> list[FieldError]:
    """Every schema violation of ``doc``, sorted by path; empty when valid.

    ``validator``: one already built for ``schema`` (:func:`hippo_core.schemas.validator`).
    """
    validator = validator or Draft202012Validator(schema)
    errors: list[FieldError] = []
    for error in validator.iter_errors(doc):
        errors.extend(_field_errors(error))
    return sorted(set(errors), key=lambda e: (e.path, e.message))


def validate(schema: dict[str, Any], doc: Any) -> dict[str, Any]:
    """``doc`` without read-only fields, validated, with defaults filled; or ValidationFailed."""
    if not isinstance(doc, dict):
        raise ValidationFailed([FieldError("$", "the body must be a JSON object")])
    too_big = oversized(schema, doc)
    if too_big:
        raise ValidationFailed(too_big)
    clean = strip_read_only(schema, copy.deepcopy(doc))
    errors = check(schema, clean)
    if errors:
        raise ValidationFailed(errors)
    return complete(schema, clean)
