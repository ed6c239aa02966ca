"""The schemas ``/openapi.json`` declares for tasks and queues, and the links between operations.

A request schema says everything the server checks that JSON Schema can say, so a
document it calls valid is accepted: ``Task`` and ``Queue`` are the schemas Hippo
validates with, plus the constraint rules of :mod:`hippo_core.constraints` (one branch
per operator), and for ``Queue`` one ``QueueBlock.<type>`` per installed queue type,
built by :func:`hippo_core.documents.queue_schema` as validation builds it.

The ``[policy]`` in force narrows the request schemas where it is a plain limit: the
network modes tasks may use, the most cpus, memory and concurrency, the ``docker run``
options refused. (Which host paths a volume may mount, and where a source may point,
are checked on normalised paths and resolved names; no pattern says that, and the
policy's 400 names the rule.)

A response schema describes what is stored, which is looser: ``TaskRecord`` and
``QueueRecord`` describe a constraint as an array of strings (a tuple needs
``prefixItems``, which some OpenAPI tools mishandle in responses, and a stored constraint
was valid when written anyway), and a ``QueueRecord`` may hold a queue type that is no
longer installed, its settings masked whole.
"""

from __future__ import annotations

import re
from typing import Any

from hippo_core import constraints, schemas
from hippo_core.documents import queue_schema
from hippo_core.policy import Policy, parameter_name
from hippo_core.registry import QueueTypeRegistry

SETTINGS = "Settings."
QUEUE_BLOCK = "QueueBlock."


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _loaded(name: str) -> dict[str, Any]:
    schema = schemas.load(name)
    schema.pop("$schema", None)
    return schema


def _with_constraints(schema: dict[str, Any], items: dict[str, Any]) -> dict[str, Any]:
    schema["properties"]["constraints"]["items"] = items
    return schema


STORED_CONSTRAINT = {
    "type": "array",
    "minItems": 2,
    "maxItems": 3,
    "items": {"type": "string"},
    "description": "[field, OPERATOR, value?] as stored: the operator upper-case, an empty value left out.",
}


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


def _at_most(holder: dict[str, Any], name: str, limit: float | None) -> None:
    """``holder``'s property ``name`` at most ``limit``; required when its default is over it."""
    if limit is None:
        return
    schema = holder["properties"][name]
    schema["maximum"] = min(schema.get("maximum", limit), limit)
    if schema.get("default", 0) > limit:
        # Left out, it would be the default, which the policy refuses.
        holder["required"] = [*holder.get("required", []), name]


def _within_policy(schema: dict[str, Any], policy: Policy | None) -> dict[str, Any]:
    """``schema`` (of a task definition) narrowed to what ``policy`` lets a task do."""
    if policy is None:
        return schema
    settings = policy.settings
    props = schema["properties"]
    docker = props["container"]["properties"]["docker"]
    network = docker["properties"]["network"]
    allowed = {name.upper() for name in settings.allowed_networks}
    network["enum"] = [name for name in network["enum"] if name in allowed]
    if network.get("default") not in allowed:
        docker["required"] = [*docker["required"], "network"]
    _at_most(schema, "cpus", settings.max_cpus)
    _at_most(schema, "mem", settings.max_mem)
    if "max_concurrent" in props:
        _at_most(schema, "max_concurrent", settings.max_concurrent)
    denied = sorted({parameter_name(p) for p in settings.denied_docker_parameters} - {""})
    if denied:
        key = docker["properties"]["parameters"]["items"]["properties"]["key"]
        refused = "|".join(_any_case(name) for name in denied)
        key["allOf"] = [
            {
                "not": {"pattern": f"^-{{0,2}}(?:{refused})$"},
                "description": "Refused by [policy] denied_docker_parameters: " + ", ".join(denied),
            }
        ]
    return schema


def _queue_block(registry: QueueTypeRegistry, name: str, policy: Policy | None) -> dict[str, Any]:
    block: dict[str, Any] = queue_schema(registry, name)["properties"]["queue"]
    if policy is not None:
        # Each task of the queue gets the queue's max_concurrent.
        _at_most(block, "max_concurrent", policy.settings.max_concurrent)
    block["title"] = f"A '{name}' queue"
    block["properties"]["type"] = {"const": name, "description": block["properties"]["type"]["description"]}
    block["properties"][name] = ref(SETTINGS + name)
    return block


def _request_queue(registry: QueueTypeRegistry, names: list[str], policy: Policy | None) -> dict[str, Any]:
    schema = _within_policy(_with_constraints(_loaded("queue"), constraints.json_schema()), policy)
    generic = schema["properties"]["queue"]
    if not names:
        generic["properties"]["type"] = {"not": {}, "description": "No queue type is installed."}
        return schema
    schema["properties"]["queue"] = {
        "description": generic["description"],
        "oneOf": [ref(QUEUE_BLOCK + name) for name in names],
        "discriminator": {
            "propertyName": "type",
            "mapping": {name: f"#/components/schemas/{QUEUE_BLOCK}{name}" for name in names},
        },
    }
    return schema


def _stored_queue(names: list[str]) -> dict[str, Any]:
    schema = _with_constraints(_loaded("queue"), STORED_CONSTRAINT)
    block = schema["properties"]["queue"]
    for name in names:
        block["properties"][name] = ref(SETTINGS + name)
    # A queue whose type was uninstalled keeps its block, masked whole.
    block["additionalProperties"] = {
        "type": "object",
        "description": "The settings block named after queue.type.",
    }
    return schema


def components(registry: QueueTypeRegistry, policy: Policy | None = None) -> dict[str, Any]:
    """The task and queue schemas of the document, request and response ones, by name."""
    names = [qt["name"] for qt in registry.describe() if qt["available"]]
    found: dict[str, Any] = {
        "Task": _within_policy(_with_constraints(_loaded("task"), constraints.json_schema()), policy),
        "TaskRecord": _with_constraints(_loaded("task"), STORED_CONSTRAINT),
        "Queue": _request_queue(registry, names, policy),
        "QueueRecord": _stored_queue(names),
    }
    for name in names:
        found[SETTINGS + name] = registry.get(name).schema
        found[QUEUE_BLOCK + name] = _queue_block(registry, name, policy)
    return found


def _operation(path: str, method: str) -> str:
    """An ``operationRef`` to ``method`` of ``path`` (a JSON pointer, ``{}`` percent-encoded)."""
    pointer = path.replace("~", "~0").replace("/", "~1").replace("{", "%7B").replace("}", "%7D")
    return f"#/paths/{pointer}/{method}"


def _links(targets: dict[str, tuple[str, str]], parameter: str, value: str) -> dict[str, Any]:
    return {
        name: {"operationRef": _operation(path, method), "parameters": {parameter: value}}
        for name, (path, method) in targets.items()
    }


QUEUE = "/queues/{queue_id}/"
TASK = "/tasks/{task_id}/"


def queue_links() -> dict[str, Any]:
    """What a created queue's ``id`` opens."""
    targets = {
        "ReadQueue": (QUEUE, "get"),
        "ReplaceQueue": (QUEUE, "put"),
        "UpdateQueue": (QUEUE, "post"),
        "ToggleQueue": (QUEUE + "toggle/", "post"),
        "ToggleQueueByGet": (QUEUE + "toggle/", "get"),
        "DeleteQueue": (QUEUE, "delete"),
    }
    return _links(targets, "queue_id", "$response.body#/id")


def task_links() -> dict[str, Any]:
    """What a created task's ``mesos_id`` opens."""
    targets = {
        "ReadTask": (TASK, "get"),
        "TaskLogs": (TASK + "logs/", "get"),
        "TaskEvents": (TASK + "events/", "get"),
        "KillTask": (TASK + "kill/", "post"),
        "KillTaskByGet": (TASK + "kill/", "get"),
        "RetryTask": (TASK + "retry/", "post"),
        "DeleteTask": (TASK, "delete"),
    }
    return _links(targets, "task_id", "$response.body#/mesos_id")
