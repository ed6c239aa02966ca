"""Checks of a queue type's settings for its own tests: the schema's conventions, and
settings filled the way Hippo fills them before it builds a queue.

pytest rewrites the assertions here (``hippo_core.testing.pytest_plugin`` registers this
module), so a failing check shows its values.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from hippo_core.queuetype import QueueType
from hippo_core.validation import check, complete


def filled_settings(queue_type: type[QueueType], settings: dict[str, Any]) -> dict[str, Any]:
    """Check against the schema and fill defaults, as Hippo does before building a queue."""
    errors = check(queue_type.schema, settings)
    assert not errors, errors
    filled = complete(queue_type.schema, dict(settings))
    assert not queue_type.validate(filled)
    return filled


def assert_schema_conventions(schema: dict[str, Any], required: list[str], secrets: set[str]) -> None:
    """A settings schema as plugins write them: a closed draft 2020-12 object, these
    ``required`` settings, a description on every setting, a default on every optional one,
    and exactly ``secrets`` marked ``x-hippo-secret``."""
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema.get("required", []) == required
    for name, prop in schema["properties"].items():
        assert prop.get("description"), f"{name} has no description"
        if name not in required:
            assert "default" in prop, f"optional {name} has no default"
    marked = {n for n, p in schema["properties"].items() if p.get("x-hippo-secret")}
    assert marked == secrets
