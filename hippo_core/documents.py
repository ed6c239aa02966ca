"""Validate task and queue documents: schema, queue-type settings and constraints together.

Every problem is collected and reported at once, each with its JSONPath, before
anything is written.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from hippo_core import schemas, secrets
from hippo_core.backend import Backend
from hippo_core.constraints import constraint_problems
from hippo_core.errors import FieldError, UnknownQueueType, ValidationFailed
from hippo_core.policy import Policy
from hippo_core.records import Document, copy_of
from hippo_core.registry import QueueTypeRegistry
from hippo_core.validation import check, complete, oversized, strip_read_only

# The fields of a queue that every task it creates inherits.
DEFINITION_FIELDS = tuple(schemas.load("definition")["properties"])


def _constraint_errors(doc: Document) -> list[FieldError]:
    raw = doc.get("constraints")
    if not isinstance(raw, list):
        return []
    return [
        FieldError("$.constraints" if p.index is None else f"$.constraints[{p.index}]", p.message)
        for p in constraint_problems(raw)
    ]


def _require_object(body: Any) -> None:
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError("$", "the body must be a JSON object")])


def _refuse_oversized(schema: Document, body: Document) -> None:
    """Refuse arrays, maps and strings over the schema's bounds before validating what they hold."""
    too_big = oversized(schema, body)
    if too_big:
        raise ValidationFailed(too_big)


def validate_task(body: Any) -> Document:
    """A one-off task body, validated, with defaults filled."""
    _require_object(body)
    schema = schemas.shared("task")
    _refuse_oversized(schema, body)
    doc = strip_read_only(schema, copy_of(body))
    errors = check(schema, doc, schemas.validator("task")) + _constraint_errors(doc)
    if errors:
        raise ValidationFailed(errors)
    return complete(schema, doc)


def queue_schema(registry: QueueTypeRegistry, type_name: str | None) -> Document:
    """The queue schema with the settings block of ``type_name`` (if installed) in place."""
    schema = schemas.load("queue")
    block = schema["properties"]["queue"]
    if type_name is None:
        # With the type missing, that is the one error: a settings block is no extra noise.
        for name in registry.names():
            block["properties"][name] = {"type": "object"}
        return schema
    try:
        qt = registry.get(type_name)
    except UnknownQueueType:
        # Let the block through so the unknown type is the one error reported about it.
        block["properties"][type_name] = {"type": "object"}
        return schema
    block["properties"][type_name] = copy.deepcopy(qt.schema)
    # A type whose every setting has a default (cron) may leave its block out.
    if qt.schema.get("required") and type_name not in block["required"]:
        block["required"] = [*block["required"], type_name]
    return schema


def validate_queue(body: Any, registry: QueueTypeRegistry) -> Document:
    """A queue body, validated with its type's settings schema, with defaults filled."""
    _require_object(body)
    block = body.get("queue")
    type_name = block.get("type") if isinstance(block, dict) else None
    type_name = type_name if isinstance(type_name, str) and type_name else None
    schema = queue_schema(registry, type_name)
    _refuse_oversized(schema, body)
    doc = strip_read_only(schema, copy.deepcopy(body))
    given = doc.get("queue")
    if (
        isinstance(given, dict)
        and type_name is not None
        and type_name not in given
        and type_name not in schema["properties"]["queue"]["required"]
    ):
        # A block queue_schema lets the body leave out (cron): its defaults are filled in.
        given[type_name] = {}
    errors = check(schema, doc) + _constraint_errors(doc)
    if type_name is not None:
        try:
            qt = registry.get(type_name)
        except UnknownQueueType as exc:
            errors = exc.errors + errors
        else:
            if not errors:
                complete(schema, doc)
                errors = [
                    FieldError(settings_path(type_name, path), message)
                    for path, message in qt.validate(doc["queue"][type_name])
                ]
    errors += [
        FieldError(path, f"holds the mask {secrets.MASK}, not a secret; send the real value")
        for path in secrets.masked_paths(schema, doc)
    ]
    if errors:
        raise ValidationFailed(_without_secrets(errors, secrets.secret_values(schema, doc)))
    return complete(schema, doc)


def _without_secrets(errors: list[FieldError], values: list[str]) -> list[FieldError]:
    """Errors whose messages cannot leak a secret into a response or a log line.

    Messages about a secret field itself never quote it (hippo_core.validation), but a
    message about a whole block may quote the block, and a plugin's ``validate()`` may
    quote anything: every secret value of the document is masked out of them all.
    """
    return [FieldError(e.path, secrets.scrub(e.message, values)) for e in errors]


def settings_path(type_name: str, path: str) -> str:
    """The document path of a queue type's ``validate()`` path (``cronstring``, ``$.cronstring``)."""
    base = f"$.queue.{type_name}"
    path = path.removeprefix("$")
    if not path:
        return base
    return base + path if path[0] in ".[" else f"{base}.{path}"


def refuse_unrunnable(backend: Backend | None, definition: Document, policy: Policy | None = None) -> None:
    """Raise ValidationFailed listing what ``backend`` could never run in ``definition``,
    and what the ``[policy]`` refuses in it."""
    problems = backend.validate(definition) if backend is not None else []
    if policy is not None:
        problems = problems + policy.task_problems(definition)
    if problems:
        raise ValidationFailed(problems)


def refuse_forbidden_source(registry: QueueTypeRegistry, document: Document, policy: Policy | None) -> None:
    """Raise ValidationFailed naming each place the queue's settings point that the policy refuses."""
    if policy is None:
        return
    type_name = document["queue"]["type"]
    qt = registry.get(type_name)
    settings = document["queue"][type_name]
    problems = policy.source_problems(qt.source_endpoints(settings))
    if problems:
        raise ValidationFailed([FieldError(settings_path(type_name, name), why) for name, why in problems])


def task_definition_of(queue: Mapping[str, Any]) -> Document:
    """What each task of ``queue`` runs: its definition fields and the queue's concurrency."""
    definition = {k: copy.deepcopy(queue[k]) for k in DEFINITION_FIELDS if k in queue}
    definition["max_concurrent"] = queue["queue"]["max_concurrent"]
    return definition
