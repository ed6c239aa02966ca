"""The JSON schemas: the single source of truth for validation, defaults, OpenAPI and docs.

``definition.json`` holds what to run (shared by tasks and queues); a schema that says
``"x-hippo-include": "definition"`` gets those properties merged in at load time, so
every schema served or used here is self-contained.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

INCLUDE_KEY = "x-hippo-include"


@cache
def _raw(name: str) -> dict[str, Any]:
    text = resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def load(name: str) -> dict[str, Any]:
    """A fresh, self-contained copy of the schema ``name`` (task, queue, error, queuetype)."""
    schema = copy.deepcopy(_raw(name))
    include = schema.pop(INCLUDE_KEY, None)
    if include:
        shared = copy.deepcopy(_raw(include)["properties"])
        # The including schema's own properties win, so it can narrow a shared one.
        schema["properties"] = {**shared, **schema["properties"]}
    return schema


@cache
def shared(name: str) -> dict[str, Any]:
    """``load(name)`` made once and shared: read it, never change it."""
    return load(name)


@cache
def validator(name: str) -> Any:
    """A validator of the shared schema ``name``, built once (building one is costly)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(shared(name))
