"""Validation helpers: every error at once with its JSONPath, defaults, read-only fields, secrets."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from hippo_core.documents import validate_queue
from hippo_core.errors import FieldError, ValidationFailed
from hippo_core.queuetype import QueueType
from hippo_core.registry import QueueTypeRegistry
from hippo_core.validation import check, complete, strip_read_only, validate

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "inner"],
    "properties": {
        "id": {"type": "string", "readOnly": True},
        "name": {"type": "string", "minLength": 1},
        "size": {"type": "integer", "minimum": 1, "default": 3},
        "tags": {
            "type": "array",
            "default": [],
            "items": {
                "type": "object",
                "properties": {"k": {"type": "string", "default": "key"}},
            },
        },
        "inner": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "mode": {"enum": ["A", "B"], "default": "A"},
                "state": {"type": "string", "readOnly": True},
                "password": {"type": "string", "minLength": 8, "x-hippo-secret": True},
            },
        },
    },
}


def test_complete_fills_defaults_recursively_and_into_array_items() -> None:
    doc = complete(SCHEMA, {"name": "n", "inner": {}, "tags": [{}, {"k": "mine"}]})
    assert doc == {"name": "n", "size": 3, "inner": {"mode": "A"}, "tags": [{"k": "key"}, {"k": "mine"}]}


def test_complete_keeps_given_values_and_copies_defaults() -> None:
    first = complete(SCHEMA, {"name": "n", "inner": {"mode": "B"}, "size": 0})
    assert (first["inner"]["mode"], first["size"]) == ("B", 0)
    first["tags"].append({"k": "x"})
    assert complete(SCHEMA, {"name": "m", "inner": {}})["tags"] == []


def test_strip_read_only_at_every_level() -> None:
    doc = {"id": "x", "name": "n", "inner": {"state": "RUNNING", "mode": "B"}, "unknown": 1}
    assert strip_read_only(SCHEMA, doc) == {"name": "n", "inner": {"mode": "B"}, "unknown": 1}


@pytest.mark.parametrize(
    ("doc", "errors"),
    [
        ({"name": "n", "inner": {}}, []),
        ({}, [FieldError("$.inner", "is required"), FieldError("$.name", "is required")]),
        (
            {"name": "", "inner": {"mode": "C"}, "size": "3"},
            [
                FieldError("$.inner.mode", "'C' is not one of ['A', 'B']"),
                FieldError("$.name", "'' should be non-empty"),
                FieldError("$.size", "'3' is not of type 'integer'"),
            ],
        ),
        (
            {"name": "n", "inner": {"mdoe": "A"}, "nmae": "x"},
            [
                FieldError("$.inner.mdoe", "unknown field; did you mean 'mode'?"),
                FieldError("$.nmae", "unknown field; did you mean 'name'?"),
            ],
        ),
        (
            {"name": "n", "inner": {}, "zzz": 1},
            [
                FieldError("$.zzz", "unknown field; known fields: name, size, tags, inner"),
            ],
        ),
        (
            {"name": "n", "inner": {}, "tags": [{"k": 1}]},
            [FieldError("$.tags[0].k", "1 is not of type 'string'")],
        ),
    ],
    ids=["valid", "two-missing", "three-wrong", "typos-everywhere", "no-close-name", "in-an-array"],
)
def test_check_lists_every_error_sorted_by_path(doc: dict, errors: list[FieldError]) -> None:
    assert check(SCHEMA, doc) == errors


def test_unknown_field_suggestions_leave_out_read_only_fields() -> None:
    [error] = check(SCHEMA, {"name": "n", "inner": {}, "idd": 1})
    assert "'id'" not in error.message


def test_a_secret_field_is_never_quoted() -> None:
    [error] = check(SCHEMA, {"name": "n", "inner": {"password": "short"}})
    assert error.path == "$.inner.password"
    assert "short" not in error.message
    assert "minLength" in error.message


def test_validate_strips_checks_and_fills() -> None:
    assert validate(SCHEMA, {"id": "ignored", "name": "n", "inner": {}}) == {
        "name": "n",
        "size": 3,
        "tags": [],
        "inner": {"mode": "A"},
    }
    with pytest.raises(ValidationFailed) as caught:
        validate(SCHEMA, {"name": 1})
    assert [e.path for e in caught.value.errors] == ["$.inner", "$.name"]
    assert "$.inner: is required" in str(caught.value)
    with pytest.raises(ValidationFailed):
        validate(SCHEMA, ["not", "an", "object"])


class ChattyQueueType(QueueType):
    """A plugin whose messages quote secrets: block-level rules, and a validate() that echoes."""

    name: ClassVar[str] = "chatty"
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "maxProperties": 2,
        "properties": {
            "user": {"type": "string", "default": "app"},
            "key": {"type": "string", "x-hippo-secret": True},
            "dsn": {"type": "string", "x-hippo-secret": "url-password"},
        },
    }

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> list[tuple[str, str]]:
        return [("dsn", f"cannot log in with {settings}")]


def _queue(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "cmd": "true",
        "container": {"docker": {"image": "busybox"}},
        "queue": {"type": "chatty", "name": "c", "chatty": settings},
    }


@pytest.mark.parametrize(
    "settings",
    [
        # Three settings break maxProperties, whose message quotes the whole block.
        {"user": "app", "key": "key-0a1b2c3d", "dsn": "pg://app:pw-9z8y7x@db/x"},
        {"key": "key-0a1b2c3d", "dsn": "pg://app:pw-9z8y7x@db/x"},  # validate() quotes the settings
    ],
    ids=["block-level-schema-rule", "plugin-validate"],
)
def test_secrets_are_scrubbed_from_every_message(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_queue(_queue(settings), QueueTypeRegistry.of(ChattyQueueType))
    text = str(caught.value) + repr(caught.value.errors)
    assert "$.queue.chatty" in text
    assert "key-0a1b2c3d" not in text
    assert "pw-9z8y7x" not in text
    # Either the message quotes no value at all (a size bound), or the secrets in it are masked.
    assert "********" in text or "at most 2 are allowed" in text


@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [
        ({"type": "integer"}, 2.0, 2),
        ({"type": ["integer", "null"]}, 5.0, 5),
        ({"type": "number"}, 2.0, 2.0),
        ({"type": "integer"}, 3, 3),
    ],
    ids=["integer", "nullable-integer", "number-stays-float", "int-stays-int"],
)
def test_complete_makes_whole_floats_of_integer_fields_ints(schema, value, expected) -> None:
    doc = complete({"properties": {"n": schema}}, {"n": value})
    assert doc["n"] == expected and type(doc["n"]) is type(expected)
