"""The schemas ``/openapi.json`` declares for tasks and queues, and the links between operations.

A request schema says everything the server checks that JSON Schema can say, so a
document it calls valid is accepted: ``Task`` and ``Queue`` are the schemas Hippo
validates with, plus the constraint rules of :mod:`hippo_core.constraints` (one branch
per operator), and for ``Queue`` one ``QueueBlock.<type>`` per installed queue type,
built by :func:`hippo_core.documents.queue_schema` as validation builds it.

A response schema describes what is stored, which is looser: ``TaskRecord`` and
``QueueRecord`` describe a constraint as an array of strings (a tuple needs
``prefixItems``, which some OpenAPI tools mishandle in responses, and a stored constraint
was valid when written anyway), and a ``QueueRecord`` may hold a queue type that is no
longer installed, its settings masked whole.
"""

from __future__ import annotations

from typing import Any

from hippo_core import constraints, schemas
from hippo_core.documents import queue_schema
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


def _queue_block(registry: QueueTypeRegistry, name: str) -> dict[str, Any]:
    block: dict[str, Any] = queue_schema(registry, name)["properties"]["queue"]
    block["title"] = f"A '{name}' queue"
    block["properties"]["type"] = {"const": name, "description": block["properties"]["type"]["description"]}
    block["properties"][name] = ref(SETTINGS + name)
    return block


def _request_queue(registry: QueueTypeRegistry, names: list[str]) -> dict[str, Any]:
    schema = _with_constraints(_loaded("queue"), constraints.json_schema())
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


def components(registry: QueueTypeRegistry) -> dict[str, Any]:
    """The task and queue schemas of the document, request and response ones, by name."""
    names = [qt["name"] for qt in registry.describe() if qt["available"]]
    found: dict[str, Any] = {
        "Task": _with_constraints(_loaded("task"), constraints.json_schema()),
        "TaskRecord": _with_constraints(_loaded("task"), STORED_CONSTRAINT),
        "Queue": _request_queue(registry, names),
        "QueueRecord": _stored_queue(names),
    }
    for name in names:
        found[SETTINGS + name] = registry.get(name).schema
        found[QUEUE_BLOCK + name] = _queue_block(registry, name)
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
        "KillTask": (TASK + "kill/", "post"),
        "KillTaskByGet": (TASK + "kill/", "get"),
        "RetryTask": (TASK + "retry/", "post"),
        "DeleteTask": (TASK, "delete"),
    }
    return _links(targets, "task_id", "$response.body#/mesos_id")
